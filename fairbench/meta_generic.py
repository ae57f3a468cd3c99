"""The meta step for any ``torch.nn.Module``, through ``torch.func`` (docs/method.md §2).

The same quantities as :mod:`fairbench.meta`, without the MLP's hand-written passes: the look-ahead
point theta'(0) = theta - lr (m buf + wd theta) (:func:`fairbench.optim.lookahead_base`), and

    G[c, j] = dL_c(theta'(eps)) / d eps_j |_{eps=0} = -lr < grad L_c(theta'(0)), grad CE_j(theta) >,

exact for SGD with momentum and weight decay because theta'(eps) is linear in eps. One forward pass
of the validation rows at theta'(0) and K reverse passes through it give the K cell gradients
grad L_c (plain autograd: ``torch.func.vjp`` imports ``torch._dynamo`` on first use, 3-5 s per
process; functorch's dropout under ``vmap`` does too, so only dropout-free models avoid it); one
forward-mode pass (``jvp``, vmapped over the cells) at theta per cell gives the K rows of G as
directional derivatives of the per-sample training losses. Nothing assumes per-sample independence
inside the model: G is the exact Jacobian-vector product of the loss vector.

Dropout follows the reference: every pass (look-ahead training pass, validation pass, real step)
runs in training mode with its own fresh mask. A pass draws its masks from torch's global generator
seeded with a number drawn from the run's dropout generator, inside ``torch.random.fork_rng`` (the
global random state is left as it was); the K forward-mode passes share one mask
(``vmap(randomness="same")``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, jvp, vmap

from fairbench.meta import Hypergradients, ValidationSet, meta_loss_per_example
from fairbench.optim import Params, SGDConfig, lookahead_base


class FunctionalModel:
    """An ``nn.Module`` as a function of a tuple of parameter tensors (in ``named_parameters`` order);
    buffers are passed through unchanged."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.names = tuple(name for name, _ in module.named_parameters())
        self.buffers = dict(module.named_buffers())

    def parameters(self) -> Params:
        """The module's current parameters, detached."""
        return tuple(p.detach() for p in self.module.parameters())

    def __call__(self, params: Params, x: Tensor, *, train: bool) -> Tensor:
        """Logits of ``x`` at ``params``; ``train`` selects training mode (dropout on)."""
        self.module.train(train)
        return functional_call(self.module, (dict(zip(self.names, params, strict=True)), self.buffers), (x,))


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run a block with torch's global generator (CPU, and ``device`` if CUDA) seeded with ``seed``,
    restoring the previous random state afterwards."""
    devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def draw_seed(generator: torch.Generator) -> int:
    """A seed for one pass's dropout masks, from the run's dropout generator."""
    return int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))


def hypergradients_generic(model: FunctionalModel, params: Params, momentum_buf: Params | None, x: Tensor,
                           y: Tensor, val: ValidationSet, opt: SGDConfig, *, train_seed: int,
                           val_seed: int) -> Hypergradients:
    """Per-cell hypergradients G (K x B) and cell meta losses L_c(theta'(0)) (module docstring).

    ``train_seed`` / ``val_seed`` seed the dropout masks of the look-ahead's training pass and of the
    validation pass.
    """
    device = x.device
    params = tuple(p.detach() for p in params)
    with torch.no_grad():
        base = lookahead_base(params, momentum_buf, opt)

    with seeded(val_seed, device), torch.enable_grad():
        live = tuple(p.requires_grad_(True) for p in base)
        losses = meta_loss_per_example(model(live, val.x, train=True), val.y)
        cell = val.cell_mean.to(losses.dtype) @ losses
    rows = [torch.autograd.grad(cell[c], live, retain_graph=c + 1 < val.n_cells, materialize_grads=True)
            for c in range(val.n_cells)]
    cell_grads = tuple(torch.stack(parts) for parts in zip(*rows, strict=True))  # (K, ...) per parameter

    def train_losses(p: Params) -> Tensor:
        return F.cross_entropy(model(p, x, train=True), y, reduction="none")

    def directional(v: Params) -> Tensor:
        return jvp(train_losses, (params,), (v,))[1]

    with seeded(train_seed, device):
        G = vmap(directional, randomness="same")(cell_grads)
    return Hypergradients(G=G.detach().mul_(-opt.lr), cell_losses=val.cell_mean @ losses.detach())
