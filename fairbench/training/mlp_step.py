"""The MLP's fast path through the trainer's model seam (docs/method.md §2): the meta step's
hypergradients factorised by hand (:mod:`fairbench.method.meta`) and the real step's gradients
backpropagated by hand (:mod:`fairbench.models.backprop`, bitwise identical to autograd)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from fairbench.hparams import HyperParams
from fairbench.method.base import Method, StepInputs
from fairbench.method.meta import (ValidationSet, hypergradients, hypergradients_autograd,
                                   hypergradients_functorch, meta_loss_per_example)
from fairbench.method.train_gram import batch_cells, mlp_train_gram
from fairbench.models import backprop
from fairbench.models.functional_mlp import MLPParams, draw_dropout_masks, mlp_logits
from fairbench.models.optim import SGDConfig, sgd_step
from fairbench.training.step import StepRecord, non_finite_error, pareto_improved

HYPERGRADIENT_FUNCTIONS = {
    "factorised": hypergradients,
    "functorch": hypergradients_functorch,
    "autograd": hypergradients_autograd,
}


def _val_cell_losses(params: MLPParams, val: ValidationSet) -> Tensor:
    """Per-cell validation meta loss in eval mode (no dropout): the Pareto-improvement check."""
    with torch.no_grad():
        return val.cell_mean @ meta_loss_per_example(mlp_logits(params, val.x), val.y)


class MLPStep:
    """The MLP's :class:`fairbench.training.step.ModelStep`: meta step (if the method needs it), weighted
    real step, both written out by hand.

    The real step backpropagates by hand (:mod:`fairbench.models.backprop`, bitwise identical to autograd);
    ``manual_backprop=False`` runs it through autograd instead, to check that. A method with a penalty on the
    logits (``penalises_logits``) always takes the autograd real step; a method that needs the training-gradient
    Gramian gets it from :func:`fairbench.method.train_gram.mlp_train_gram` with the real pass's dropout masks.
    """

    def __init__(self, method: Method, hp: HyperParams, val: ValidationSet, params: MLPParams, *,
                 dropout_generator: torch.Generator, label: tuple[str, int] = ("", 0),
                 manual_backprop: bool = True) -> None:
        self.method, self.hp, self.val, self.params = method, hp, val, params
        self.manual_backprop = manual_backprop
        self.buf: MLPParams | None = None
        self.opt = SGDConfig(lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay)
        self.hyper_fn = HYPERGRADIENT_FUNCTIONS[hp.hypergradient_backend]
        self.dropout = dropout_generator
        self.label = label
        self.cell_loss_now = _val_cell_losses(params, val)

    def logits(self, x: Tensor) -> Tensor:
        """Eval-mode logits (no dropout) at the current weights."""
        with torch.no_grad():
            return mlp_logits(self.params, x)

    def step(self, x: Tensor, y: Tensor, group: Tensor, epoch: int, batch: int = 0) -> StepRecord:
        """One training step on the batch (x, y, group); docs/method.md §2."""
        B, hp = x.shape[0], self.hp
        hyper = None
        if self.method.uses_meta:
            train_masks = draw_dropout_masks(B, hp.dropout, self.dropout)
            val_masks = draw_dropout_masks(self.val.x.shape[0], hp.dropout, self.dropout)
            hyper = self.hyper_fn(self.params, self.buf, x, y, self.val, self.opt, train_masks, val_masks)
            if not torch.isfinite(hyper.G).all():
                raise non_finite_error(self.method, self.label, "hypergradients", epoch, batch)
        masks = draw_dropout_masks(B, hp.dropout, self.dropout)
        manual = self.manual_backprop and not self.method.penalises_logits
        if manual:
            z1 = hyper.train_first_layer if hyper is not None else None
            cache = backprop.forward(self.params, x, y, masks, z1=z1)
            losses = cache.losses
        else:
            live = MLPParams(*(p.detach().requires_grad_(True) for p in self.params))
            logits = mlp_logits(live, x, masks)
            losses = F.cross_entropy(logits, y, reduction="none")
        train_gram = None
        if self.method.needs_train_gram(epoch):
            train_gram = mlp_train_gram(self.params, x, y, masks, batch_cells(y, group), self.val.n_cells)
        inputs = StepInputs(epoch=epoch, y=y, group=group, losses=losses.detach(), hyper=hyper, train_gram=train_gram)
        step = self.method.sample_weights(inputs.on_cpu())
        weights = step.weights.to(losses.device)  # the identity on the CPU
        loss = (weights * losses).sum()
        if self.method.penalises_logits:
            loss = loss + self.method.logit_penalty(logits, inputs)
        value = float(loss.detach())
        if not math.isfinite(value) or not torch.isfinite(weights).all():
            raise non_finite_error(self.method, self.label, value, epoch, batch)
        if manual:
            grads = backprop.weighted_gradients(self.params, cache, weights)
        else:
            grads = MLPParams(*torch.autograd.grad(loss, live))
        self.params, self.buf = sgd_step(self.params, grads, self.buf, self.opt)
        before, self.cell_loss_now = self.cell_loss_now, _val_cell_losses(self.params, self.val)
        diagnostics = dict(step.diagnostics)
        diagnostics["pareto_improved"] = pareto_improved(before, self.cell_loss_now)
        return StepRecord(loss=float(losses.detach().mean()), cell_loss_before=before,
                          cell_loss_after=self.cell_loss_now, diagnostics=diagnostics)
