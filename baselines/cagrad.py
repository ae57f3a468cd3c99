"""CAGrad: the direction that maximises the worst cell improvement near the average gradient.

Liu et al., "Conflict-Averse Gradient Descent for Multi-task Learning", NeurIPS 2021,
https://arxiv.org/abs/2110.14048.

With ``g0 = (1/K) sum_c g_c``, ``g_w = sum_c w_c g_c`` and ``r = c ||g0||`` (``sqrt(phi)``,
``phi = c^2 ||g0||^2``), solve the dual

    w* = argmin_{w in simplex} F(w) = <g_w, g0> + r ||g_w||,

and return ``d = g0 + r / ||g_w*|| g_w*`` (the paper's form; ``rescale=True`` divides by
``1 + c^2`` like the authors' code default). In Gramian terms ``<g_w, g0> = w^T M 1 / K``,
``||g_w||^2 = w^T M w``, ``||g0||^2 = 1^T M 1 / K^2`` and ``alpha = 1/K + (r / ||g_w*||) w*``.

Solver: ``r ||x|| = min_{t > 0} r (||x||^2 / (2t) + t / 2)``, so ``min_w F = min_t H(t)`` with
``H(t) = min_w <g_w, g0> + r (w^T M w / (2t) + t / 2)``, a simplex QP solved exactly for each t.
``H`` is convex with ``H'(t) = (r/2)(1 - ||g_w(t)||^2 / t^2)``; its root ``t = ||g_w(t)||`` is found by
Brent's method, so ``w*`` is exact up to rounding.
"""

from __future__ import annotations

import numpy as np
import torch

from baselines.mgda import solve_simplex_qp
from fairbench.method.aggregation import Weighting, WeightingResult, check_gramian

__all__ = ["CAGrad", "cagrad_weights"]


def cagrad_weights(M: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Return ``(w*, alpha, qp_solves)`` for the Gramian ``M`` (float64) and conflict radius c."""
    k = M.shape[0]
    scale = float(np.linalg.norm(M))
    mean = np.full(k, 1.0 / k)
    if scale == 0.0:
        return mean.copy(), mean, 0
    m = M / scale  # alpha is invariant to the scale of M
    b = m @ mean
    r = c * float(np.sqrt(max(mean @ b, 0.0)))
    if r == 0.0:
        w, _ = solve_simplex_qp(np.zeros((k, k)), b)
        return w, mean, 1

    solves = 0

    def w_of(t: float) -> np.ndarray:
        nonlocal solves
        solves += 1
        return solve_simplex_qp((r / t) * m, b)[0]

    def gap(t: float) -> float:  # sign of H'(t)
        w = w_of(t)
        return t - float(np.sqrt(max(w @ m @ w, 0.0)))

    # gap >= 0 at t_hi (no g_w is longer than the longest g_c). Scan down for a sign change:
    # a geometric scan, because for tiny t the QP (r/t) M dominates b and rounding takes over.
    t_hi = float(np.sqrt(np.max(np.diagonal(m))))
    t_star = t_prev = t_hi
    if gap(t_hi) > 0.0:
        while True:
            t = t_prev / 8.0
            if t < 1e-10 * t_hi:
                t_star = t  # g_w* = 0: 0 is in the hull and no direction helps; d = g0
                break
            if gap(t) < 0.0:
                from scipy.optimize import brentq  # imported here: scipy.optimize costs ~0.4 s

                t_star = brentq(gap, t, t_prev, xtol=1e-15 * t_hi, rtol=4 * np.finfo(float).eps)
                break
            t_prev = t
    w = w_of(t_star)
    gw_norm = float(np.sqrt(max(w @ m @ w, 0.0)))
    lam = r / gw_norm if gw_norm > 1e-9 * t_hi else 0.0
    return w, mean + lam * w, solves


class CAGrad(Weighting):
    """CAGrad (Liu et al. 2021, https://arxiv.org/abs/2110.14048), ``d = g0 + c||g0|| g_w*/||g_w*||``.

    ``c`` (default 0.5) is the radius of the ball around ``g0``; ``c = 0`` is plain averaging.
    ``rescale=False`` (default) returns the paper's direction; ``rescale=True`` divides it by
    ``1 + c^2``. ``info``: ``objective`` (``F(w*)`` for the unnormalised M), ``gw_norm``.
    """

    name = "cagrad"

    def __init__(self, c: float = 0.5, *, rescale: bool = False) -> None:
        if c < 0:
            raise ValueError(f"c must be >= 0, got {c}")
        self.c = float(c)
        self.rescale = rescale

    def __repr__(self) -> str:
        return f"CAGrad(c={self.c}, rescale={self.rescale})"

    def __call__(
        self, gramian: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> WeightingResult:
        m_t = check_gramian(gramian)
        m = m_t.to(torch.float64).cpu().numpy()
        w, alpha, solves = cagrad_weights(m, self.c)
        if self.rescale:
            alpha = alpha / (1.0 + self.c**2)
        k = m.shape[0]
        gw_sq = max(float(w @ m @ w), 0.0)
        g0_norm = float(np.sqrt(max(m.sum() / k**2, 0.0)))
        info = {
            "objective": float(w @ m.sum(axis=1) / k + self.c * g0_norm * np.sqrt(gw_sq)),
            "gw_norm": float(np.sqrt(gw_sq)),
        }
        return WeightingResult(torch.from_numpy(alpha).to(m_t.dtype), True, solves, info)
