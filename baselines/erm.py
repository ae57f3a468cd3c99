"""Empirical risk minimisation with the reference's weighting: uniform weights, L2-normalised,
w_j = 1 / sqrt(B) (docs/method.md §3)."""

from __future__ import annotations

import math

import torch

from fairbench.method.base import Method, StepInputs, StepWeights


class ERM(Method):
    """Uniform weights 1/sqrt(B)."""

    name = "erm"

    def sample_weights(self, step: StepInputs) -> StepWeights:
        B = step.losses.shape[0]
        return StepWeights(torch.full((B,), 1.0 / math.sqrt(B), dtype=step.losses.dtype))
