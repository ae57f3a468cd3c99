"""One meta step of fairness-aware meta-learning (docs/method.md §2): look-ahead, per-cell hypergradients.

For a training batch (x_j, y_j), j = 1..B, and sample weights eps (all zero), the look-ahead is one step
of the optimiser on sum_j eps_j CE_j(theta):

    theta'(eps) = theta - lr * (m * buf + wd * theta + sum_j eps_j grad CE_j(theta)).

The meta loss of validation example i is CE_i + F1sur_i (a soft-F1 surrogate), L_c is its mean over the
validation examples of cell c = (group, label), and the hypergradient matrix G (K x B) is

    G[c, j] = dL_c(theta'(eps)) / d eps_j |_{eps=0} = -lr * < grad L_c(theta'(0)), grad CE_j(theta) >,

exact for SGD with momentum and weight decay (the look-ahead is linear in eps). We evaluate it with one
reverse pass at theta'(0) for the K cell gradients and one forward-mode (JVP) pass at theta per cell,
so no double backward and no per-sample gradient matrix is ever formed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import jvp, vjp, vmap

from fairbench.models.backprop import first_layer
from fairbench.models.functional_mlp import DropoutMasks, MLPParams, mlp_logits
from fairbench.models.optim import SGDConfig, lookahead_base


@dataclass(frozen=True)
class ValidationSet:
    """The sensitive-attributed meta set, with its (group, label) cell structure.

    ``cell_mean`` is the K x n averaging matrix (row c averages the examples of cell c), so that
    ``cell_mean @ losses`` gives the per-cell losses L_c.
    """

    x: Tensor
    y: Tensor
    cell: Tensor
    group_of_cell: Tensor  # (K,) group index of each cell
    cell_mean: Tensor  # (K, n)
    cell_sizes: Tensor  # (K,)

    @classmethod
    def build(cls, x: Tensor, y: Tensor, group: Tensor, n_groups: int) -> ValidationSet:
        """Build from validation tensors; cell index = group * 2 + y."""
        n_cells = 2 * n_groups
        cell = group * 2 + y
        one_hot = F.one_hot(cell, n_cells).T.to(x.dtype)  # (K, n)
        sizes = one_hot.sum(dim=1)
        if torch.any(sizes == 0):
            empty = torch.nonzero(sizes == 0).flatten().tolist()
            raise ValueError(f"validation set has no example in cell(s) {empty}; every (group, label) "
                             "cell needs at least one validation row")
        return cls(x=x, y=y, cell=cell, group_of_cell=torch.arange(n_cells, device=x.device) // 2,
                   cell_mean=one_hot / sizes[:, None], cell_sizes=sizes)

    @property
    def n_cells(self) -> int:
        return int(self.cell_mean.shape[0])

    @property
    def n_groups(self) -> int:
        return self.n_cells // 2


def soft_f1_surrogate(logits: Tensor, y: Tensor) -> Tensor:
    """F1sur = sigmoid(-2s / (1 + s)) with s = sigmoid(logit of the true class) (docs/method.md §2, step 3)."""
    s = torch.sigmoid(logits.gather(1, y[:, None]).squeeze(1))
    return torch.sigmoid(-2.0 * s / (1.0 + s))


def meta_loss_per_example(logits: Tensor, y: Tensor) -> Tensor:
    """Meta loss of each validation example: cross-entropy + soft-F1 surrogate."""
    return F.cross_entropy(logits, y, reduction="none") + soft_f1_surrogate(logits, y)


@dataclass(frozen=True)
class Hypergradients:
    """Result of the look-ahead: G (K x B) and the per-cell meta losses L_c at theta'(0).

    ``train_first_layer`` is x W1^T + b1 of the training batch at theta, when the backend computed it
    (the real step at the same theta reuses it; see :mod:`fairbench.models.backprop`).
    """

    G: Tensor
    cell_losses: Tensor
    train_first_layer: Tensor | None = None


@dataclass(frozen=True)
class _Pass:
    """Layer inputs a_l and per-example output gradients delta_l of one MLP pass (l = 1, 2, 3)."""

    inputs: tuple[Tensor, Tensor, Tensor]
    deltas: tuple[Tensor, Tensor, Tensor]
    losses: Tensor
    first_layer: Tensor


def _pass_with_deltas(params: MLPParams, x: Tensor, masks: DropoutMasks, y: Tensor,
                      meta: bool) -> _Pass:
    """Forward pass keeping each layer's input, then per-example backprop of the loss to every layer's
    pre-activation: delta_3 = dloss/dlogits, delta_l = (delta_{l+1} W_{l+1}) * mask_l * 1[z_l > 0]."""
    with torch.no_grad():
        z1 = first_layer(params, x)
        gate1 = (z1 > 0).to(x.dtype) if masks.h1 is None else (z1 > 0).to(x.dtype) * masks.h1
        a1 = z1 * gate1
        z2 = torch.addmm(params.b2, a1, params.w2.T)
        gate2 = (z2 > 0).to(x.dtype) if masks.h2 is None else (z2 > 0).to(x.dtype) * masks.h2
        a2 = z2 * gate2
        logits = torch.addmm(params.b3, a2, params.w3.T)
    if meta:
        logits = logits.requires_grad_(True)
        with torch.enable_grad():
            losses = meta_loss_per_example(logits, y)
            (d3,) = torch.autograd.grad(losses.sum(), logits)
        losses = losses.detach()
    else:
        with torch.no_grad():
            probs = torch.softmax(logits, dim=1)
            losses = F.cross_entropy(logits, y, reduction="none")
            d3 = probs - F.one_hot(y, probs.shape[1]).to(probs.dtype)
    with torch.no_grad():
        d2 = (d3 @ params.w3) * gate2
        d1 = (d2 @ params.w2) * gate1
    return _Pass(inputs=(x, a1, a2), deltas=(d1, d2, d3), losses=losses, first_layer=z1)


def hypergradients(params: MLPParams, momentum_buf: MLPParams | None, x: Tensor, y: Tensor,
                   val: ValidationSet, opt: SGDConfig, train_masks: DropoutMasks,
                   val_masks: DropoutMasks) -> Hypergradients:
    """Per-cell hypergradients G[c, j] = -lr <grad L_c(theta'), grad CE_j(theta)> (module docstring).

    A linear layer's per-example gradient is the outer product delta a^T, so inner products of
    per-example gradients factorise layer by layer (bias included through the "+ 1"):

        <grad l_i, grad CE_j> = sum_l (delta^val_{l,i} . delta^tr_{l,j}) (a^val_{l,i} . a^tr_{l,j} + 1),

    and G = -lr * A @ Kmat with A the K x n cell-averaging matrix. Cost O(n_val * B * width): no
    per-sample gradient, no double backward. ``train_masks`` / ``val_masks`` are the dropout draws of
    the look-ahead's training pass and of the validation pass.
    """
    with torch.no_grad():
        params = MLPParams(*(p.detach() for p in params))
        base = lookahead_base(params, momentum_buf, opt)
    tr = _pass_with_deltas(params, x, train_masks, y, meta=False)
    va = _pass_with_deltas(base, val.x, val_masks, val.y, meta=True)
    with torch.no_grad():
        kernel = torch.zeros(val.x.shape[0], x.shape[0], dtype=x.dtype, device=x.device)
        for a_v, d_v, a_t, d_t in zip(va.inputs, va.deltas, tr.inputs, tr.deltas):
            kernel.addcmul_(d_v @ d_t.T, torch.addmm(torch.ones((), dtype=x.dtype, device=x.device), a_v, a_t.T))
        G = (val.cell_mean @ kernel).mul_(-opt.lr)
    return Hypergradients(G=G, cell_losses=val.cell_mean @ va.losses, train_first_layer=tr.first_layer)


def hypergradients_functorch(params: MLPParams, momentum_buf: MLPParams | None, x: Tensor, y: Tensor,
                   val: ValidationSet, opt: SGDConfig, train_masks: DropoutMasks,
                   val_masks: DropoutMasks) -> Hypergradients:
    """Per-cell hypergradients with ``torch.func``: a VJP at theta'(0) for the K cell gradients, then one
    JVP per cell at theta. Works for any functional model; used to check :func:`hypergradients`.

    ``train_masks`` / ``val_masks`` are the dropout draws of the look-ahead's training pass and of the
    validation pass (the reference keeps the model in training mode for both).
    """
    params = MLPParams(*(p.detach() for p in params))
    base = lookahead_base(params, momentum_buf, opt)

    def val_losses(p: MLPParams) -> Tensor:
        return meta_loss_per_example(mlp_logits(p, val.x, val_masks), val.y)

    losses, pullback = vjp(val_losses, base)
    (cell_grads,) = vmap(pullback)(val.cell_mean)  # MLPParams of (K, ...) tensors

    def train_losses(p: MLPParams) -> Tensor:
        return F.cross_entropy(mlp_logits(p, x, train_masks), y, reduction="none")

    def directional(v: MLPParams) -> Tensor:
        return jvp(train_losses, (params,), (v,))[1]

    G = vmap(directional)(cell_grads).mul_(-opt.lr)
    return Hypergradients(G=G, cell_losses=val.cell_mean @ losses.detach())


def hypergradients_autograd(params: MLPParams, momentum_buf: MLPParams | None, x: Tensor, y: Tensor,
                            val: ValidationSet, opt: SGDConfig, train_masks: DropoutMasks,
                            val_masks: DropoutMasks) -> Hypergradients:
    """Brute-force reference: differentiate L_c(theta'(eps)) w.r.t. eps through a differentiable
    look-ahead with double backward (what ``higher``-style code does). For tests and benchmarks."""
    params = MLPParams(*(p.detach().requires_grad_(True) for p in params))
    eps = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device, requires_grad=True)
    weighted = (eps * F.cross_entropy(mlp_logits(params, x, train_masks), y, reduction="none")).sum()
    grads = torch.autograd.grad(weighted, params, create_graph=True)
    base = lookahead_base(MLPParams(*(p.detach() for p in params)), momentum_buf, opt)
    lookahead = MLPParams(*(b - opt.lr * g for b, g in zip(base, grads)))
    cell_losses = val.cell_mean @ meta_loss_per_example(mlp_logits(lookahead, val.x, val_masks), val.y)
    rows = [torch.autograd.grad(cell_losses[c], eps, retain_graph=True)[0] for c in range(val.n_cells)]
    return Hypergradients(G=torch.stack(rows), cell_losses=cell_losses.detach())


def clip_and_normalise(direction: Tensor, norm: str = "l2") -> Tensor:
    """Sample weights w = max(-d, 0) / ||max(-d, 0)|| (docs/method.md §2, step 7); all-zero stays zero.

    ``norm="l2"`` is the reference; ``norm="sum"`` is the original Learning-to-Reweight normalisation.
    """
    w = torch.clamp(-direction, min=0.0)
    if norm == "l2":
        total = torch.linalg.vector_norm(w)
    elif norm == "sum":
        total = w.sum()
    else:
        raise ValueError(f"unknown weight normalisation {norm!r}; use 'l2' or 'sum'")
    return w / total if total > 0 else torch.zeros_like(w)
