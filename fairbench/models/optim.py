"""Functional SGD with momentum and weight decay, identical to ``torch.optim.SGD`` (dampening 0,
no Nesterov): ``g = grad + wd * theta``; ``buf = g`` on the first step, else ``buf = m * buf + g``;
``theta <- theta - lr * buf``. The meta step needs the same update written out, to look ahead.
Parameters are a tuple of tensors (:class:`fairbench.models.functional_mlp.MLPParams` for the MLP)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from fairbench.models.functional_mlp import MLPParams

Params = tuple[Tensor, ...]


def _like(params: Params, tensors: list[Tensor]) -> Params:
    """``tensors`` in the container type of ``params`` (MLPParams stays MLPParams, else a tuple)."""
    return MLPParams(*tensors) if isinstance(params, MLPParams) else tuple(tensors)


@dataclass(frozen=True)
class SGDConfig:
    """Optimiser of the reference (docs/method.md §1): SGD, momentum 0.9, weight decay 5e-4."""

    lr: float
    momentum: float = 0.9
    weight_decay: float = 5e-4


def lookahead_base(params: Params, momentum_buf: Params | None, cfg: SGDConfig) -> Params:
    """The look-ahead point theta'(eps = 0) = theta - lr * (m * buf + wd * theta).

    With per-sample weights eps, theta'(eps) = theta'(0) - lr * sum_j eps_j grad CE_j(theta), because
    the weighted gradient enters the momentum buffer with coefficient 1 (docs/method.md §2, step 5).
    """
    out = []
    for i, p in enumerate(params):
        step = cfg.weight_decay * p
        if momentum_buf is not None:
            step = step + cfg.momentum * momentum_buf[i]
        out.append(p - cfg.lr * step)
    return _like(params, out)


@torch.no_grad()
def sgd_step(params: Params, grads: Params, momentum_buf: Params | None,
             cfg: SGDConfig) -> tuple[Params, Params]:
    """One ``torch.optim.SGD`` step; returns the new parameters and the new momentum buffer."""
    new_params, new_buf = [], []
    for i, (p, g) in enumerate(zip(params, grads)):
        d = torch.add(g, p, alpha=cfg.weight_decay)
        buf = d.clone() if momentum_buf is None else torch.mul(momentum_buf[i], cfg.momentum).add_(d)
        new_params.append(torch.add(p, buf, alpha=-cfg.lr))
        new_buf.append(buf)
    return _like(params, new_params), _like(params, new_buf)
