"""FORML: Fairness-Optimized Reweighting via Meta-Learning (Yan, Seto & Apostoloff, 2022,
https://arxiv.org/abs/2202.09340).

Objective: the gap between the worst and the best sensitive group, max_g L_g - min_g L_g, with
L_g the mean meta loss over group g's validation examples (groups, not cells; docs/method.md §3).
"""

from __future__ import annotations

import torch
from torch import Tensor

from fairbench.method.meta import ValidationSet
from fairbench.method.objectives import Objective, group_coefficients


class FORML(Objective):
    """max_g L_g - min_g L_g; w = C[argmax] - C[argmin] (first index on ties)."""

    name = "forml"

    def cell_coefficients(self, cell_losses: Tensor, val: ValidationSet) -> Tensor:
        C = group_coefficients(val)
        group_losses = C @ cell_losses.to(C.dtype)
        return C[int(torch.argmax(group_losses))] - C[int(torch.argmin(group_losses))]
