"""The meta step for any ``torch.nn.Module``, through ``torch.func`` (docs/method.md §2).

The same quantities as :mod:`fairbench.method.meta`, without the MLP's hand-written passes: the look-ahead
point theta'(0) = theta - lr (m buf + wd theta) (:func:`fairbench.models.optim.lookahead_base`), and

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

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import jvp, vmap

from fairbench.method.meta import Hypergradients, ValidationSet, meta_loss_per_example
from fairbench.models.functional import FunctionalModel, seeded
from fairbench.models.optim import Params, SGDConfig, lookahead_base


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
