"""The benchmark's classifier: MLP ``d -> 128 -> 64 -> 2`` with ReLU and dropout (docs/method.md §1).

Written functionally (parameters are a tuple of tensors, dropout masks are explicit arguments) so that
the meta step can evaluate the same network at the look-ahead point, take forward-mode derivatives
and reuse one dropout draw across passes.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

HIDDEN_SIZES: tuple[int, int] = (128, 64)
N_CLASSES = 2


class MLPParams(NamedTuple):
    """Weights of the three linear layers (PyTorch ``nn.Linear`` layout: ``W`` is out x in)."""

    w1: Tensor
    b1: Tensor
    w2: Tensor
    b2: Tensor
    w3: Tensor
    b3: Tensor


class DropoutMasks(NamedTuple):
    """Inverted-dropout masks for the two hidden layers (entries 0 or 1/(1-p)); ``None`` = eval mode."""

    h1: Tensor | None
    h2: Tensor | None


NO_DROPOUT = DropoutMasks(None, None)
_RESOLUTION = 2**24


def init_mlp(n_features: int, *, generator: torch.Generator | None = None,
             hidden: tuple[int, int] = HIDDEN_SIZES) -> MLPParams:
    """Draw initial weights exactly like ``nn.Linear.reset_parameters``: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    ``generator=None`` uses torch's global generator (the reference built its model that way).
    """
    sizes = (n_features, *hidden, N_CLASSES)
    params: list[Tensor] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        w = torch.empty(fan_out, fan_in).uniform_(-bound, bound, generator=generator)
        b = torch.empty(fan_out).uniform_(-bound, bound, generator=generator)
        params += [w, b]
    return MLPParams(*params)


def draw_dropout_masks(batch_size: int, p: float, generator: torch.Generator,
                       hidden: tuple[int, int] = HIDDEN_SIZES) -> DropoutMasks:
    """Draw one training-mode dropout mask per hidden layer (inverted dropout, keep prob ``1 - p``), on
    the generator's device.

    Units are kept when a uniform 24-bit integer falls below ``(1 - p) * 2**24`` (exact to 2**-24,
    about twice as fast on the CPU as ``torch.bernoulli``).
    """
    if p <= 0.0:
        return NO_DROPOUT
    keep = 1.0 - p
    threshold = round(keep * _RESOLUTION)
    masks = [
        (torch.randint(0, _RESOLUTION, (batch_size, width), generator=generator, dtype=torch.int32,
                       device=generator.device) < threshold)
        .to(torch.float32).mul_(1.0 / keep)
        for width in hidden
    ]
    return DropoutMasks(*masks)


def mlp_logits(params: MLPParams, x: Tensor, masks: DropoutMasks = NO_DROPOUT) -> Tensor:
    """Forward pass: ``Linear -> ReLU -> Dropout -> Linear -> ReLU -> Dropout -> Linear``."""
    h = torch.relu(torch.addmm(params.b1, x, params.w1.T))
    if masks.h1 is not None:
        h = h * masks.h1
    h = torch.relu(torch.addmm(params.b2, h, params.w2.T))
    if masks.h2 is not None:
        h = h * masks.h2
    return torch.addmm(params.b3, h, params.w3.T)


def positive_probability(params: MLPParams, x: Tensor) -> Tensor:
    """P(y = 1 | x) in eval mode (no dropout); the argmax prediction is ``p > 0.5``."""
    with torch.no_grad():
        return torch.softmax(mlp_logits(params, x), dim=1)[:, 1]


def n_parameters(params: MLPParams) -> int:
    """Total number of scalar parameters."""
    return sum(p.numel() for p in params)
