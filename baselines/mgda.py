"""MGDA: the minimum-norm point of the convex hull of the cell gradients.

Désidéri, "Multiple-gradient descent algorithm (MGDA) for multiobjective optimization",
Comptes Rendus Mathématique 2012, https://doi.org/10.1016/j.crma.2012.03.014; Sener & Koltun,
"Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018,
https://arxiv.org/abs/1810.04650.

    alpha = argmin_{alpha in simplex} alpha^T M alpha,   d = alpha^T G.

KKT: ``(M alpha)_c >= alpha^T M alpha`` for every c, with equality where ``alpha_c > 0``; hence
``<d, g_c> >= ||d||^2 > 0`` for every cell whenever 0 is not in the hull.
"""

from __future__ import annotations

import numpy as np
import torch

from fairbench.method.aggregation import Weighting, WeightingResult, check_gramian

__all__ = ["MGDA", "solve_simplex_qp"]


def _subspace_step(q_ff: np.ndarray, grad_f: np.ndarray) -> np.ndarray:
    """Minimiser step p (sum p = 0) of the quadratic restricted to the free set (least squares)."""
    n = q_ff.shape[0]
    kkt = np.zeros((n + 1, n + 1))
    kkt[:n, :n] = q_ff
    kkt[:n, n] = -1.0
    kkt[n, :n] = 1.0
    rhs = np.concatenate([-grad_f, [0.0]])
    try:
        sol = np.linalg.solve(kkt, rhs)
        if np.all(np.isfinite(sol)):
            return sol[:n]
    except np.linalg.LinAlgError:
        pass
    return np.linalg.lstsq(kkt, rhs, rcond=None)[0][:n]


def solve_simplex_qp(
    Q: np.ndarray, q: np.ndarray | None = None, *, max_iter: int | None = None
) -> tuple[np.ndarray, int]:
    """Minimise ``0.5 w^T Q w + q^T w`` over the simplex by a primal active-set method.

    ``Q`` is symmetric PSD and ``q`` must lie in its range (so the problem is bounded on every
    face; singular faces are handled by least squares). Exact up to rounding; returns
    ``(w, iterations)``.
    """
    k = Q.shape[0]
    q = np.zeros(k) if q is None else q
    scale = max(float(np.max(np.abs(Q))), float(np.max(np.abs(q))), 1e-300)
    tol = 1e-13 * scale
    max_iter = 50 * k + 50 if max_iter is None else max_iter
    start = int(np.argmin(0.5 * np.diagonal(Q) + q))
    w = np.zeros(k)
    w[start] = 1.0
    free = np.zeros(k, dtype=bool)
    free[start] = True
    at_minimum = True  # a single vertex is the minimiser of its own face
    for it in range(max_iter):
        grad = Q @ w + q
        if at_minimum:
            idx = np.flatnonzero(free)
            nu = float(w @ grad)  # multiplier of sum(w) = 1 (grad_F is constant on the face)
            mu = np.where(free, 0.0, grad - nu)
            c = int(np.argmin(mu))
            if mu[c] >= -tol:
                return w, it
            free[c] = True
            at_minimum = False
            continue
        idx = np.flatnonzero(free)
        p = _subspace_step(Q[np.ix_(idx, idx)], grad[idx])
        shrinking = p < 0.0
        t, blocking = 1.0, -1
        if shrinking.any():
            ratios = -w[idx][shrinking] / p[shrinking]
            j = int(np.argmin(ratios))
            if ratios[j] < 1.0:
                t, blocking = float(ratios[j]), int(idx[np.flatnonzero(shrinking)[j]])
        w[idx] += t * p
        if blocking >= 0:
            w[blocking] = 0.0
            free[blocking] = False
        else:
            at_minimum = True
        np.clip(w, 0.0, None, out=w)
        w /= w.sum()
    return w, max_iter


class MGDA(Weighting):
    """MGDA (Désidéri 2012; Sener & Koltun 2018, https://arxiv.org/abs/1810.04650).

    ``alpha = argmin_{simplex} alpha^T M alpha`` (the min-norm point of the hull of the g's),
    solved exactly by an active-set method. ``info``: ``min_norm_sq`` (``alpha^T M alpha``).
    """

    name = "mgda"

    def __call__(
        self, gramian: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> WeightingResult:
        m_t = check_gramian(gramian)
        m = m_t.to(torch.float64).cpu().numpy()
        scale = float(np.linalg.norm(m))
        if scale == 0.0:
            k = m.shape[0]
            alpha = torch.full((k,), 1.0 / k, dtype=m_t.dtype)
            return WeightingResult(alpha, True, 0, {"min_norm_sq": 0.0})
        w, iters = solve_simplex_qp(m / scale)
        info = {"min_norm_sq": float(w @ m @ w)}
        return WeightingResult(torch.from_numpy(w).to(m_t.dtype), True, iters, info)
