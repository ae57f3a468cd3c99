"""The generic path through the trainer's model seam: the training step of any ``torch.nn.Module``
(models chosen by name, :mod:`fairbench.models`).

The same step as :class:`fairbench.training.mlp_step.MLPStep` (docs/method.md §2): for meta methods the look-ahead and
per-cell hypergradients (:func:`fairbench.method.meta_functional.hypergradients_generic`), the method's sample
weights, then the real SGD step (momentum, weight decay) on sum_j w_j CE_j (plus the method's penalty on the
logits, when it has one) with autograd, each pass in training mode with fresh dropout masks; the
training-gradient Gramian, for the methods that need it, by K reverse passes through the real pass. The MLP's default is the hand-written fast path in
:mod:`fairbench.training.mlp_step`; this one serves every other model (and the MLP with
``hypergradient_backend=generic``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fairbench.data import SplitData
from fairbench.hparams import HyperParams
from fairbench.method.meta import ValidationSet, meta_loss_per_example
from fairbench.method.meta_functional import hypergradients_generic
from fairbench.method.base import Method, StepInputs
from fairbench.method.train_gram import autograd_train_gram, batch_cells
from fairbench.models import FAST_PATH_MODEL, build_model
from fairbench.models.functional import FunctionalModel, draw_seed, seeded
from fairbench.models.optim import Params, SGDConfig, sgd_step
from fairbench.evaluation.protocols import Protocol
from fairbench.training.init import initial_params, stream_seed
from fairbench.training.step import StepRecord, non_finite_error, pareto_improved

#: Rows per forward pass when evaluating (bounds the memory of large models on large test sets).
EVAL_CHUNK = 4096


class GenericStep:
    """Any model's :class:`fairbench.training.step.ModelStep`: a parameter tuple, a momentum buffer and
    one training step through ``torch.func`` and autograd."""

    def __init__(self, method: Method, hp: HyperParams, val: ValidationSet, model: nn.Module, *,
                 dropout_generator: torch.Generator, label: tuple[str, int] = ("", 0)) -> None:
        self.method, self.hp, self.val = method, hp, val
        self.model = FunctionalModel(model)
        self.params: Params = self.model.parameters()
        self.buf: Params | None = None
        self.opt = SGDConfig(lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay)
        self.dropout = dropout_generator
        self.label = label
        self.cell_loss_now = self._val_cell_losses()

    @torch.no_grad()
    def logits(self, x: Tensor) -> Tensor:
        """Eval-mode logits (no dropout), in chunks of :data:`EVAL_CHUNK` rows."""
        parts = [self.model(self.params, x[i:i + EVAL_CHUNK], train=False) for i in range(0, x.shape[0], EVAL_CHUNK)]
        return torch.cat(parts) if len(parts) != 1 else parts[0]

    def _val_cell_losses(self) -> Tensor:
        """Per-cell validation meta loss in eval mode: the Pareto-improvement check."""
        return self.val.cell_mean @ meta_loss_per_example(self.logits(self.val.x), self.val.y)

    def step(self, x: Tensor, y: Tensor, group: Tensor, epoch: int, batch: int = 0) -> StepRecord:
        """One training step on the batch (x, y, group); docs/method.md §2."""
        hyper = None
        if self.method.uses_meta:
            train_seed, val_seed = draw_seed(self.dropout), draw_seed(self.dropout)
            hyper = hypergradients_generic(self.model, self.params, self.buf, x, y, self.val, self.opt,
                                           train_seed=train_seed, val_seed=val_seed)
            if not torch.isfinite(hyper.G).all():
                raise non_finite_error(self.method, self.label, "hypergradients", epoch, batch)
        live = tuple(p.detach().requires_grad_(True) for p in self.params)
        with seeded(draw_seed(self.dropout), x.device), torch.enable_grad():
            logits = self.model(live, x, train=True)
            losses = F.cross_entropy(logits, y, reduction="none")
        train_gram = None
        if self.method.needs_train_gram(epoch):
            train_gram = autograd_train_gram(losses, live, batch_cells(y, group), self.val.n_cells)
        inputs = StepInputs(epoch=epoch, y=y, group=group, losses=losses.detach(), hyper=hyper, train_gram=train_gram)
        step = self.method.sample_weights(inputs.on_cpu())
        weights = step.weights.to(device=losses.device, dtype=losses.dtype)
        loss = (weights * losses).sum()
        if self.method.penalises_logits:
            loss = loss + self.method.logit_penalty(logits, inputs)
        value = float(loss.detach())
        if not math.isfinite(value) or not torch.isfinite(weights).all():
            raise non_finite_error(self.method, self.label, value, epoch, batch)
        grads = torch.autograd.grad(loss, live, allow_unused=True)
        grads = tuple(torch.zeros_like(p) if g is None else g for p, g in zip(live, grads))
        self.params, self.buf = sgd_step(self.params, grads, self.buf, self.opt)
        before, self.cell_loss_now = self.cell_loss_now, self._val_cell_losses()
        diagnostics = dict(step.diagnostics)
        diagnostics["pareto_improved"] = pareto_improved(before, self.cell_loss_now)
        return StepRecord(loss=float(losses.detach().mean()), cell_loss_before=before,
                          cell_loss_after=self.cell_loss_now, diagnostics=diagnostics)


def initial_model(data: SplitData, hp: HyperParams, seed: int, protocol: Protocol) -> nn.Module:
    """Model ``hp.model`` for ``data`` with its initial weights, on the CPU.

    The MLP starts from :func:`fairbench.training.init.initial_params` (the fast path's weights, so both paths
    start equal); any other model draws its ``nn.Module`` default init from torch's global generator
    seeded with the run's init stream (``stream_seed(seed, "init")``), inside ``fork_rng``.
    """
    input_shape = getattr(data, "input_shape", None)
    if hp.model == FAST_PATH_MODEL:
        model = build_model(hp.model, data.n_features, input_shape, dropout=hp.dropout)
        return model.load_params(initial_params(data.n_features, seed, protocol))  # type: ignore[operator]
    if protocol.init != "seed":
        raise ValueError(f"unknown init scheme {protocol.init!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stream_seed(seed, "init"))
        return build_model(hp.model, data.n_features, input_shape, dropout=hp.dropout)


def model_record(data: SplitData, hp: HyperParams) -> dict[str, object]:
    """What run.json records about the model: its name, which step trains it (``fast``: the MLP's
    hand-written step; ``generic``: torch.func), its parameter count and the input shape it reads."""
    input_shape = getattr(data, "input_shape", None)
    with torch.random.fork_rng(devices=[]):
        model = build_model(hp.model, data.n_features, input_shape, dropout=hp.dropout)
    return {"name": hp.model, "step": "fast" if uses_fast_path(hp) else "generic",
            "n_parameters": sum(p.numel() for p in model.parameters()),
            "input_shape": list(input_shape) if input_shape is not None else [data.n_features]}


def uses_fast_path(hp: HyperParams) -> bool:
    """True when the run trains the MLP through the hand-written step (the default), False when it
    goes through the generic ``torch.func`` step (any other model, or ``hypergradient_backend=generic``)."""
    return hp.model == FAST_PATH_MODEL and hp.hypergradient_backend != "generic"
