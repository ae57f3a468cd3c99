"""Learning to Reweight (Ren et al., ICML 2018, https://arxiv.org/abs/1803.09050).

Objective: the mean meta loss over the whole validation set, L = sum_c (n_c / n) L_c.
"""

from __future__ import annotations

from torch import Tensor

from fairbench.method.meta import ValidationSet
from fairbench.method.objectives import Objective


class LearningToReweight(Objective):
    """Mean validation meta loss; w_c = n_c / n."""

    name = "ltr"

    def cell_coefficients(self, cell_losses: Tensor, val: ValidationSet) -> Tensor:
        return val.cell_sizes / val.cell_sizes.sum()
