"""Nash bargaining weighting of per-cell hypergradients (the paper's stage-1 direction).

Zeng et al., "Fairness-Aware Meta-Learning via Nash Bargaining", NeurIPS 2024,
https://arxiv.org/abs/2406.07029 (bargaining over gradients as in Navon et al., "Multi-Task
Learning as a Bargaining Game", ICML 2022, https://arxiv.org/abs/2202.01017).

Players are the K cells with utilities ``u_c(d) = <d, g_c>``, disagreement point 0. The Nash
bargaining solution is ``d = sum_c alpha_c g_c`` with ``alpha > 0`` solving

    (M alpha)_c = 1 / alpha_c  for every c,   M = G G^T,

the stationarity condition of the strictly convex problem
``min_{alpha > 0} f(alpha) = 0.5 alpha^T M alpha - sum_c log alpha_c``.

A positive solution exists iff 0 is not in the convex hull of the rows of G: if ``u >= 0``,
``u != 0`` and ``G^T u = 0`` then ``f(alpha + t u) -> -inf`` as ``t -> inf``; otherwise ``f`` is
coercive on the open orthant. Linear independence of the ``g_c`` is not needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from fairbench.method.aggregation import (
    INF_GRAMIAN_MESSAGE,
    NAN_GRAMIAN_MESSAGE,
    SHAPE_GRAMIAN_MESSAGE,
    Weighting,
    WeightingResult,
)

__all__ = ["NBSSolution", "NashBargaining", "solve_nbs"]

# Status codes (also reported as floats in ``WeightingResult.info["status"]``).
CONVERGED, NO_SOLUTION, DIVERGED, MAX_ITER, STALLED = 0, 1, 2, 3, 4
STATUS_NAMES = {
    CONVERGED: "converged",
    NO_SOLUTION: "no_solution",  # a zero cell gradient, M == 0, or u >= 0 with u^T M u = 0
    DIVERGED: "diverged",  # a normalised iterate exceeded max_alpha: 0 is (numerically) in the hull
    MAX_ITER: "max_iter",
    STALLED: "stalled",  # the line search found no decrease before reaching tol
}


_QUADRATIC_PHASE = 0.25**2  # squared Newton decrement below which full steps are taken
# Largest rounding allowance accepted in the convergence test. Any a > 0 has some cell with
# a_c (M a)_c <= 0 when 0 is in the hull, so an accepted iterate certifies (M a)_c > 0 for all c.
_MAX_ROUNDING = 1e-3


@dataclass(frozen=True)
class NBSSolution:
    """Result of :func:`solve_nbs`.

    ``alpha`` solves ``alpha_c (M alpha)_c = 1`` for the *unnormalised* M; on failure it is the
    all-ones vector (the reference implementation's failure signal). ``residual`` is
    ``max_c |alpha_c (M alpha)_c - 1|`` of the last iterate (scale invariant). ``scale`` is the
    Frobenius norm s used to normalise ``M' = M / s``; the normalised solution is
    ``alpha * sqrt(scale)``.
    """

    alpha: np.ndarray
    success: bool
    iterations: int
    residual: float
    scale: float = 1.0
    status: int = CONVERGED


def _fro_norm(m: np.ndarray) -> float:
    """Frobenius norm without under/overflow for tiny or huge entries."""
    peak = float(np.max(np.abs(m)))
    if 1e-140 < peak < 1e140:
        return math.sqrt(float(np.vdot(m, m)))
    if peak == 0.0:
        return 0.0
    return peak * math.sqrt(float(np.vdot(m / peak, m / peak)))


def _failure(k: int, iterations: int, residual: float, scale: float, status: int) -> NBSSolution:
    return NBSSolution(np.ones(k), False, iterations, residual, scale, status)


def _objective(a: np.ndarray, ma: np.ndarray) -> float:
    """f(a) = 0.5 a^T M a - sum log a, given ma = M a."""
    return 0.5 * float(a @ ma) - float(np.sum(np.log(a)))


def solve_nbs(
    M: np.ndarray | torch.Tensor,
    *,
    tol: float = 1e-10,
    max_iter: int = 100,
    max_alpha: float = 1e6,
) -> NBSSolution:
    """Solve ``(M alpha)_c = 1 / alpha_c``, ``alpha > 0``, by damped Newton in float64.

    ``M`` is scaled to unit Frobenius norm (``M' = M / s``); Newton's method minimises
    ``f(a) = 0.5 a^T M' a - sum log a`` (gradient ``M' a - 1/a``, Hessian ``M' + diag(1/a^2)``,
    always positive definite) from ``a0 = t v``, ``v = diag(M')^{-1/2}``, ``t = sqrt(K / v^T M' v)``
    (exact for orthogonal g's). Far from the solution a backtracking (Armijo) line search keeps
    ``a > 0``; once the Newton decrement is below 0.25, full steps (which stay positive and
    converge quadratically, f being self-concordant). The result is mapped back,
    ``alpha = a / sqrt(s)``.

    Converged when ``|a_c (M' a)_c - 1| <= tol + 4 K eps a_c (|M'| a)_c`` for every c: within
    ``tol``, or within the rounding error of evaluating ``M' a`` (this matters only for
    near-degenerate problems with huge weights; an allowance above 1e-3 is refused). An accepted
    iterate thus certifies ``<d, g_c> > 0`` for every cell, since some cell has
    ``a_c (M' a)_c <= 0`` whenever 0 is in the hull.

    Failure (``success=False``, ``alpha`` all ones, ``status`` says why): M == 0 or a zero cell
    gradient (no solution); an iterate above ``max_alpha`` in normalised units (0 then lies
    within ``sqrt(K) / max_alpha`` of the hull of the normalised gradients, comparable to the
    rounding error of single-precision gradients); ``max_iter`` steps without convergence; or a
    stalled line search.

    Raises ``ValueError`` for a non-square M or NaN / infinite entries.
    """
    m = M.detach().cpu().numpy() if isinstance(M, torch.Tensor) else np.asarray(M)
    m = np.asarray(m, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ValueError(SHAPE_GRAMIAN_MESSAGE.format(shape=m.shape))
    if not np.isfinite(m).all():
        raise ValueError(NAN_GRAMIAN_MESSAGE if np.isnan(m).any() else INF_GRAMIAN_MESSAGE)
    k = m.shape[0]
    scale = _fro_norm(m)
    if scale == 0.0:
        return _failure(k, 0, float("inf"), scale, NO_SOLUTION)
    a_mat = (m + m.T) * (0.5 / scale)
    diag = np.diagonal(a_mat)
    if np.any(diag <= 0.0):
        return _failure(k, 0, float("inf"), scale, NO_SOLUTION)
    a = 1.0 / np.sqrt(diag)
    quad = float(a @ a_mat @ a)
    if not quad > 0.0:
        return _failure(k, 0, float("inf"), scale, NO_SOLUTION)
    a *= np.sqrt(k / quad)

    abs_mat = np.abs(a_mat) * (4.0 * k * np.finfo(np.float64).eps)
    hess = np.empty_like(a_mat)
    diag_idx = np.diag_indices(k)
    ma = a_mat @ a
    for it in range(max_iter + 1):
        r = np.abs(a * ma - 1.0)
        residual = float(r.max())
        if a.max() > max_alpha:
            return _failure(k, it, residual, scale, DIVERGED)
        rounding = a * (abs_mat @ a)
        if (residual <= tol or np.all(r <= tol + rounding)) and rounding.max() <= _MAX_ROUNDING:
            return NBSSolution(a / math.sqrt(scale), True, it, residual, scale, CONVERGED)
        if it == max_iter:
            break
        inv_a = 1.0 / a
        grad = ma - inv_a
        np.copyto(hess, a_mat)
        hess[diag_idx] += inv_a * inv_a
        try:
            step = np.linalg.solve(hess, -grad)
        except np.linalg.LinAlgError:
            return _failure(k, it, residual, scale, STALLED)
        slope = float(grad @ step)  # -(Newton decrement)^2
        if not slope < 0.0:
            return _failure(k, it, residual, scale, STALLED)
        if -slope < _QUADRATIC_PHASE:
            a = a + step
            ma = a_mat @ a
            continue
        worst = float((step * inv_a).min())  # a + t step > 0  <=>  t * step_c / a_c > -1
        t = 1.0 if worst > -1.0 else 0.99 / -worst
        f = _objective(a, ma)
        while True:
            a_new = a + t * step
            ma_new = a_mat @ a_new
            if _objective(a_new, ma_new) <= f + 1e-4 * t * slope:
                break
            t *= 0.5
            if t < 1e-12:
                return _failure(k, it, residual, scale, STALLED)
        a, ma = a_new, ma_new
    return _failure(k, max_iter, residual, scale, MAX_ITER)


class NashBargaining(Weighting):
    """Nash bargaining solution over cells (Zeng et al. 2024, https://arxiv.org/abs/2406.07029).

    ``alpha > 0`` with ``alpha_c (M alpha)_c = 1`` for every cell, so ``<d, g_c> = 1 / alpha_c > 0``:
    the direction improves every cell to first order. Solved exactly by :func:`solve_nbs`. On
    failure (0 in the convex hull of the g's) ``alpha`` is all ones and ``success`` is False,
    the reference implementation's failure signal.

    ``info``: ``residual``, ``scale`` (Frobenius norm of M), ``status`` (0 converged, 1 no
    solution, 2 diverged, 3 max_iter, 4 stalled) and, on success, ``alpha_mean_normalised`` (the
    mean weight for ``M / scale``, which does not depend on the scale of the gradients).
    """

    name = "nbs"

    def __init__(self, *, tol: float = 1e-10, max_iter: int = 100, max_alpha: float = 1e6) -> None:
        self.tol = tol
        self.max_iter = max_iter
        self.max_alpha = max_alpha

    def __repr__(self) -> str:
        return f"NashBargaining(tol={self.tol}, max_iter={self.max_iter}, max_alpha={self.max_alpha})"

    def __call__(
        self, gramian: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> WeightingResult:
        dtype = gramian.dtype if gramian.is_floating_point() else torch.float64
        sol = solve_nbs(gramian, tol=self.tol, max_iter=self.max_iter, max_alpha=self.max_alpha)
        alpha = torch.from_numpy(sol.alpha).to(dtype)
        info = {"residual": sol.residual, "scale": sol.scale, "status": float(sol.status)}
        if sol.success:
            info["alpha_mean_normalised"] = float(sol.alpha.mean()) * math.sqrt(sol.scale)
        return WeightingResult(alpha=alpha, success=sol.success, iterations=sol.iterations, info=info)
