"""Reweighing (Kamiran & Calders, KAIS 2012, https://doi.org/10.1007/s10115-011-0463-8).

Each training example of group g and label y gets the weight P(g) P(y) / P(g, y), estimated on the
training set, which makes label and group independent under the weighted distribution. Scaled like
ERM (w_j = factor / sqrt(B)).
"""

from __future__ import annotations

import math

import torch

from fairbench.method.base import Method, StepInputs, StepWeights, TrainingData


class Reweighing(Method):
    """w_j = P(g_j) P(y_j) / P(g_j, y_j) / sqrt(B); empty (g, y) cells get weight 0."""

    name = "reweighing"

    def __init__(self) -> None:
        self.factor: torch.Tensor | None = None  # (n_groups, 2)

    def prepare(self, train: TrainingData) -> None:
        n = train.y.shape[0]
        cell = train.group * 2 + train.y
        joint = torch.bincount(cell, minlength=2 * train.n_groups).to(torch.float64).view(train.n_groups, 2) / n
        p_group = joint.sum(dim=1, keepdim=True)
        p_label = joint.sum(dim=0, keepdim=True)
        self.factor = torch.where(joint > 0, p_group * p_label / joint.clamp(min=1e-300), torch.zeros_like(joint))

    def sample_weights(self, step: StepInputs) -> StepWeights:
        assert self.factor is not None, "prepare() must run before training"
        B = step.losses.shape[0]
        weights = self.factor[step.group, step.y] / math.sqrt(B)
        return StepWeights(weights.to(step.losses.dtype))
