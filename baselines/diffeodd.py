"""DiffEodd: equalised-odds gap regulariser (Han et al., FFB, ICLR 2024, https://arxiv.org/abs/2306.09468).

gap = sum_{y in {0, 1}} sum_g |E[s | g, y] - E[s | y]|, the soft true- and false-positive-rate gaps
(:mod:`fairbench.method.gap_penalty`).
"""

from __future__ import annotations

from torch import Tensor

from fairbench.method.gap_penalty import GapRegulariser, score_gap


class DiffEodd(GapRegulariser):
    """Training loss + lambda * equalised-odds gap of the scores."""

    name = "diffeodd"
    label = "DiffEodd"

    def gap(self, score: Tensor, y: Tensor, group: Tensor) -> Tensor:
        return score_gap(score, group, y == 1) + score_gap(score, group, y == 0)
