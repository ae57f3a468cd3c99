"""IMTL-G: the direction with equal projections onto every cell's unit gradient.

Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021,
https://openreview.net/forum?id=IMPnRXEWpvr.

Find ``d = sum_c alpha_c g_c`` with ``sum_c alpha_c = 1`` and ``<d, u_c>`` equal for all c, where
``u_c = g_c / ||g_c||``. With ``D = [g_1 - g_2, ..., g_1 - g_K]^T`` and
``U = [u_1 - u_2, ..., u_1 - u_K]^T``, the closed form is

    alpha_{2:K} = g_1 U^T (D U^T)^{-1},   alpha_1 = 1 - sum_{c >= 2} alpha_c.

Everything is an inner product, so with ``n_c = sqrt(M_cc)``:
``(g_1 U^T)_j = M_11 / n_1 - M_1j / n_j`` and
``(D U^T)_{ij} = (M_11 - M_i1) / n_1 - (M_1j - M_ij) / n_j``.
"""

from __future__ import annotations

import numpy as np
import torch

from fairbench.method.aggregation import Weighting, WeightingResult, check_gramian

__all__ = ["IMTLG", "imtl_g_weights"]


def imtl_g_weights(M: np.ndarray) -> tuple[np.ndarray, bool]:
    """Return ``(alpha, singular)``; a singular ``D U^T`` is solved by least squares (min norm)."""
    k = M.shape[0]
    norms = np.sqrt(np.clip(np.diagonal(M), 0.0, None))
    if k == 1:
        return np.ones(1), False
    safe = np.where(norms > 0.0, norms, 1.0)
    inv_n = np.where(norms > 0.0, 1.0 / safe, 0.0)  # a zero gradient gets u_c = 0
    # P[i, j] = <g_i, u_j> = M_ij / n_j
    p = M * inv_n[None, :]
    g1_ut = p[0, 0] - p[0, 1:]  # <g_1, u_1 - u_j>, j = 2..K
    du_t = (p[0, 0] - p[1:, 0])[:, None] - (p[0, 1:][None, :] - p[1:, 1:])
    # Solve x (D U^T) = g_1 U^T, i.e. (D U^T)^T x^T = (g_1 U^T)^T.
    a = du_t.T
    singular = bool(np.any(norms == 0.0)) or np.linalg.cond(a) > 1e12
    if singular:
        rest = np.linalg.lstsq(a, g1_ut, rcond=None)[0]
    else:
        rest = np.linalg.solve(a, g1_ut)
    return np.concatenate([[1.0 - rest.sum()], rest]), singular


class IMTLG(Weighting):
    """IMTL-G (Liu et al. 2021, https://openreview.net/forum?id=IMPnRXEWpvr).

    ``alpha`` sums to one and ``<d, u_c> = (M alpha)_c / ||g_c||`` is the same for every cell.
    ``info``: ``singular`` (1.0 when ``D U^T`` was singular and least squares was used),
    ``projection`` (the common value ``<d, u_1>``).
    """

    name = "imtl_g"

    def __call__(
        self, gramian: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> WeightingResult:
        m_t = check_gramian(gramian)
        m = m_t.to(torch.float64).cpu().numpy()
        scale = float(np.linalg.norm(m))
        k = m.shape[0]
        if scale == 0.0:
            alpha = np.full(k, 1.0 / k)
            return WeightingResult(torch.from_numpy(alpha).to(m_t.dtype), True, 0, {"singular": 1.0})
        alpha, singular = imtl_g_weights(m / scale)
        n1 = np.sqrt(m[0, 0])
        info = {
            "singular": float(singular),
            "projection": float((m @ alpha)[0] / n1) if n1 > 0 else 0.0,
        }
        return WeightingResult(torch.from_numpy(alpha).to(m_t.dtype), True, 0, info)
