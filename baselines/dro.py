"""DRO without group labels: a CVaR-style loss, the sum of the top floor(q B) per-sample losses of the
batch (q = 0.4 in the reference; cf. Hashimoto et al., ICML 2018, https://arxiv.org/abs/1806.08010,
and Levy et al., NeurIPS 2020, https://arxiv.org/abs/2010.05893)."""

from __future__ import annotations

import math

import torch

from fairbench.method.base import Method, StepInputs, StepWeights


class DRO(Method):
    """Weight 1 on the floor(fraction * B) largest losses, 0 elsewhere (ties: lowest index first)."""

    name = "dro"

    def __init__(self, fraction: float = 0.4) -> None:
        self.fraction = fraction

    def sample_weights(self, step: StepInputs) -> StepWeights:
        B = step.losses.shape[0]
        k = max(1, math.floor(self.fraction * B))
        top = torch.topk(step.losses, k, sorted=False).indices
        weights = torch.zeros(B, dtype=step.losses.dtype)
        weights[top] = 1.0
        return StepWeights(weights)
