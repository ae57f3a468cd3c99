"""Online group DRO (Sagawa, Koh, Hashimoto & Liang, ICLR 2020, https://arxiv.org/abs/1911.08731).

Keeps a distribution q over sensitive groups, updated each batch by exponentiated gradient
q_g <- q_g exp(eta L_g) / Z (groups absent from the batch keep their q), and minimises sum_g q_g L_g.
Needs group labels on the training set (the meta methods need them on the validation set only).
The weights are scaled like ERM's (sum sqrt(B) when q is uniform over equal groups) so that a
learning rate means the same for both.
"""

from __future__ import annotations

import math

import torch

from fairbench.method.base import Method, StepInputs, StepWeights, TrainingData


class GroupDRO(Method):
    """w_j = sqrt(B) * q_{g_j} / n_{g_j} with n_g the batch count of group g."""

    name = "group_dro"

    def __init__(self, step_size: float = 0.01) -> None:
        self.step_size = step_size
        self.q: torch.Tensor | None = None

    def prepare(self, train: TrainingData) -> None:
        self.q = torch.full((train.n_groups,), 1.0 / train.n_groups, dtype=torch.float64)

    def sample_weights(self, step: StepInputs) -> StepWeights:
        assert self.q is not None, "prepare() must run before training"
        n_groups = self.q.shape[0]
        counts = torch.bincount(step.group, minlength=n_groups).to(torch.float64)
        sums = torch.bincount(step.group, weights=step.losses.to(torch.float64), minlength=n_groups)
        present = counts > 0
        group_loss = torch.where(present, sums / counts.clamp(min=1), torch.zeros_like(sums))
        q = self.q * torch.exp(self.step_size * group_loss * present)
        self.q = q / q.sum()
        per_group = torch.where(present, self.q / counts.clamp(min=1), torch.zeros_like(q))
        B = step.losses.shape[0]
        weights = (math.sqrt(B) * per_group[step.group]).to(step.losses.dtype)
        return StepWeights(weights, {"max_group_weight": float(self.q.max())})
