"""DiffDP: demographic-parity gap regulariser (Han et al., FFB, ICLR 2024, https://arxiv.org/abs/2306.09468).

gap = sum_g |E[s | g] - E[s]| over the whole batch (:mod:`fairbench.method.gap_penalty`).
"""

from __future__ import annotations

from torch import Tensor

from fairbench.method.gap_penalty import GapRegulariser, score_gap


class DiffDP(GapRegulariser):
    """Training loss + lambda * demographic-parity gap of the scores."""

    name = "diffdp"
    label = "DiffDP"

    def gap(self, score: Tensor, y: Tensor, group: Tensor) -> Tensor:
        return score_gap(score, group)
