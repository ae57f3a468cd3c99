"""The real training step's forward and reverse pass, written out op for op.

The trainer minimises sum_j w_j CE_j(theta) over the batch (docs/method.md §2, step 8). Autograd would
record a graph for that; this module runs the same ATen kernels in the same order instead
(``log_softmax``/``nll_loss`` forward, ``_log_softmax_backward_data``, ``threshold_backward``, the
``mm`` calls of ``AddmmBackward``), so the gradients are bitwise identical to
``torch.autograd.grad`` (tested) at a fraction of the per-call overhead. It also lets the meta step
hand over the first layer's pre-activation x W1^T + b1, which does not depend on the dropout mask
and was already computed at the same theta by the look-ahead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from fairbench.models.functional_mlp import DropoutMasks, MLPParams

_threshold_backward = torch.ops.aten.threshold_backward


@dataclass(frozen=True)
class ForwardPass:
    """What the reverse pass needs from the forward pass: layer inputs, ReLU outputs and the
    log-probabilities; ``losses`` are the per-sample cross-entropies CE_j."""

    x: Tensor
    h1: Tensor
    a1: Tensor
    h2: Tensor
    a2: Tensor
    log_probs: Tensor
    y: Tensor
    masks: DropoutMasks
    losses: Tensor


def first_layer(params: MLPParams, x: Tensor) -> Tensor:
    """The first layer's pre-activation z1 = x W1^T + b1 (independent of dropout)."""
    return torch.addmm(params.b1, x, params.w1.T)


@torch.no_grad()
def forward(params: MLPParams, x: Tensor, y: Tensor, masks: DropoutMasks, z1: Tensor | None = None) -> ForwardPass:
    """Forward pass of :func:`fairbench.models.functional_mlp.mlp_logits` plus per-sample cross-entropy.

    ``z1``, when given, must be :func:`first_layer` of the same ``params`` and ``x``.
    """
    h1 = torch.relu(first_layer(params, x) if z1 is None else z1)
    a1 = h1 if masks.h1 is None else h1 * masks.h1
    h2 = torch.relu(torch.addmm(params.b2, a1, params.w2.T))
    a2 = h2 if masks.h2 is None else h2 * masks.h2
    log_probs = torch.log_softmax(torch.addmm(params.b3, a2, params.w3.T), dim=1)
    losses = F.nll_loss(log_probs, y, reduction="none")
    return ForwardPass(x=x, h1=h1, a1=a1, h2=h2, a2=a2, log_probs=log_probs, y=y, masks=masks, losses=losses)


@torch.no_grad()
def weighted_gradients(params: MLPParams, fp: ForwardPass, weights: Tensor) -> MLPParams:
    """Gradient of sum_j w_j CE_j with respect to every parameter (backprop through the cached pass)."""
    grad_log_probs = torch.zeros_like(fp.log_probs).scatter_(1, fp.y[:, None], -weights[:, None])
    delta3 = torch._log_softmax_backward_data(grad_log_probs, fp.log_probs, 1, fp.log_probs.dtype)
    grad_a2 = delta3.mm(params.w3)
    delta2 = _threshold_backward(grad_a2 if fp.masks.h2 is None else grad_a2 * fp.masks.h2, fp.h2, 0)
    grad_a1 = delta2.mm(params.w2)
    delta1 = _threshold_backward(grad_a1 if fp.masks.h1 is None else grad_a1 * fp.masks.h1, fp.h1, 0)
    return MLPParams(delta1.T.mm(fp.x), delta1.sum(0), delta2.T.mm(fp.a1), delta2.sum(0),
                     delta3.T.mm(fp.a2), delta3.sum(0))
