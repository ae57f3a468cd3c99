"""Nash-MTL: the Nash bargaining solution over the cells' training-loss gradients in parameter space.

Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022, https://arxiv.org/abs/2202.01017.
The players are the batch's (group, label) cells, with utilities u_c(d) = <d, grad L_c> of the cells' mean
training losses (no validation set, no hypergradient); the solution d = sum_c alpha_c grad L_c has

    alpha_c (M alpha)_c = 1 for every cell,   M[c, c'] = <grad L_c, grad L_c'>,

the same conditions as NBS over hypergradients (:mod:`fairbench.method.nbs`), solved exactly by the same
damped Newton solver. Navon et al. solve it approximately (a sequence of convex programs, also what
``torchjd.aggregation.NashMTL`` wraps); the exact solve meets the conditions to 1e-10 (docs/method.md §6).
Cells absent from the batch (M_cc = 0) sit out the bargain with alpha_c = 0.
"""

from __future__ import annotations

import torch

from fairbench.method.aggregation import WeightingResult, check_gramian
from fairbench.method.nbs import NashBargaining
from fairbench.method.train_gram import expand_alpha, present_cells


class NashMTL(NashBargaining):
    """Nash bargaining over the training-loss gradients of the batch's cells (Navon et al. 2022)."""

    name = "nash_mtl"
    label = "Nash-MTL"
    gradients = "training_losses"

    def __call__(self, gramian: torch.Tensor, *, generator: torch.Generator | None = None) -> WeightingResult:
        m = check_gramian(gramian)
        present = present_cells(m)
        if present.numel() == 0:
            return WeightingResult(torch.ones(m.shape[0], dtype=m.dtype), False, 0, {"status": 1.0})
        result = super().__call__(m[present][:, present])
        alpha = expand_alpha(result.alpha, present, m.shape[0]) if result.success else torch.ones(m.shape[0],
                                                                                                 dtype=m.dtype)
        return WeightingResult(alpha, result.success, result.iterations, result.info)
