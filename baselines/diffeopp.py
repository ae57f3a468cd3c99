"""DiffEopp: equal-opportunity gap regulariser (Han et al., FFB, ICLR 2024, https://arxiv.org/abs/2306.09468).

gap = sum_g |E[s | g, y = 1] - E[s | y = 1]|, the gap of the soft true-positive rates
(:mod:`fairbench.method.gap_penalty`).
"""

from __future__ import annotations

from torch import Tensor

from fairbench.method.gap_penalty import GapRegulariser, score_gap


class DiffEopp(GapRegulariser):
    """Training loss + lambda * equal-opportunity gap of the scores."""

    name = "diffeopp"
    label = "DiffEopp"

    def gap(self, score: Tensor, y: Tensor, group: Tensor) -> Tensor:
        return score_gap(score, group, y == 1)
