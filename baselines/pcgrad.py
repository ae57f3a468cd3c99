"""PCGrad: project each gradient off the gradients it conflicts with, then sum.

Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020,
https://arxiv.org/abs/2001.06782.

For each cell i, start from ``g_i^PC = g_i`` and, for every other cell j in a random order,

    if <g_i^PC, g_j> < 0:   g_i^PC <- g_i^PC - <g_i^PC, g_j> / ||g_j||^2 * g_j,

then ``d = sum_i g_i^PC``. Each ``g_i^PC`` is tracked as a coefficient vector ``C_i`` over the rows
of G (``g_i^PC = C_i^T G``), so ``<g_i^PC, g_j> = (C_i^T M)_j`` and ``alpha = sum_i C_i``.
"""

from __future__ import annotations

import numpy as np
import torch

from fairbench.method.aggregation import Weighting, WeightingResult, check_gramian

__all__ = ["PCGrad", "pcgrad_coefficients"]


def pcgrad_coefficients(M: np.ndarray, orders: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """Return ``(C, projections)``: row i of C gives ``g_i^PC`` over the rows of G.

    ``orders[i]`` is the order in which the other cells are visited for cell i.
    """
    k = M.shape[0]
    coef = np.eye(k)
    norms_sq = np.diagonal(M)
    projections = 0
    for i in range(k):
        c = coef[i]
        for j in orders[i]:
            dot = float(c @ M[:, j])
            if dot < 0.0 and norms_sq[j] > 0.0:
                c[j] -= dot / norms_sq[j]
                projections += 1
    return coef, projections


class PCGrad(Weighting):
    """PCGrad (Yu et al. 2020, https://arxiv.org/abs/2001.06782), ``d = sum_i g_i^PC``.

    The visiting order of the other cells is drawn per cell from ``generator``
    (``torch.randperm``), so results are reproducible given its seed; with ``generator=None`` the
    order is fixed (ascending index). ``info``: ``projections`` (number of projections made).
    """

    name = "pcgrad"

    def __call__(
        self, gramian: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> WeightingResult:
        m_t = check_gramian(gramian)
        m = m_t.to(torch.float64).cpu().numpy()
        k = m.shape[0]
        orders = []
        for i in range(k):
            others = np.array([j for j in range(k) if j != i], dtype=np.int64)
            if generator is not None:
                others = others[torch.randperm(k - 1, generator=generator).numpy()]
            orders.append(others)
        coef, projections = pcgrad_coefficients(m, orders)
        alpha = torch.from_numpy(coef.sum(axis=0)).to(m_t.dtype)
        return WeightingResult(alpha, True, 0, {"projections": float(projections)})
