"""FairGrad: alpha-fair resource allocation over the cells' training-loss gradients.

Ban & Ji, "Fair Resource Allocation in Multi-Task Learning", ICML 2024, https://arxiv.org/abs/2402.15638.
(Not the PyPI package ``fairgrad``, which is a different method by other authors.)

The update d = sum_c w_c grad L_c maximises sum_c u_c^{1 - a} / (1 - a) of the utilities u_c = <d, grad L_c>
on a ball; its optimality conditions are

    (M w)_c = w_c^{-1/a}  for every cell,   M[c, c'] = <grad L_c, grad L_c'>,   w > 0,

with ``a`` the fairness parameter (``alpha`` here; ``fairgrad_alpha`` in the hyper-parameters): a -> 0 is
the utilitarian sum, a = 1 proportional fairness (the Nash bargaining solution, ``w_c (M w)_c = 1``),
a = 2 minimum potential delay fairness, a -> inf max-min fairness. The conditions are the stationarity of
the strictly convex f(w) = 0.5 w^T M w - sum_c phi(w_c), phi' (w) = w^{-1/a} (phi = log for a = 1), which we
minimise by damped Newton in float64 on M / ||M||_F (the solution maps back as w = w' ||M||^{-a/(1+a)}).
Ban & Ji solve the conditions approximately with an iterative solver; the Newton solve meets them to 1e-10
(docs/method.md §6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from fairbench.method.aggregation import Weighting, WeightingResult, check_gramian
from fairbench.method.train_gram import expand_alpha, present_cells

__all__ = ["FairGrad", "FairGradSolution", "solve_alpha_fair"]


@dataclass(frozen=True)
class FairGradSolution:
    """``weights`` solves ``(M w)_c = w_c^{-1/alpha}`` when ``success``; ``residual`` is
    ``max_c |w_c^{1/alpha} (M w)_c - 1|`` (scale invariant)."""

    weights: np.ndarray
    success: bool
    iterations: int
    residual: float


def _phi(w: np.ndarray, alpha: float) -> float:
    """sum_c phi(w_c) with phi'(w) = w^{-1/alpha}."""
    if alpha == 1.0:
        return float(np.sum(np.log(w)))
    p = 1.0 - 1.0 / alpha
    return float(np.sum(w**p) / p)


def solve_alpha_fair(M: np.ndarray, alpha: float, *, tol: float = 1e-10, max_iter: int = 200,
                     max_weight: float = 1e8) -> FairGradSolution:
    """Solve ``(M w)_c = w_c^{-1/alpha}``, ``w > 0`` (module docstring); all ones with ``success=False`` when
    the problem has no solution (0 in the convex hull of the gradients, a zero gradient) or Newton fails."""
    if not alpha > 0 or not math.isfinite(alpha):
        raise ValueError(f"FairGrad's alpha must be a finite number > 0 (got {alpha!r})")
    m = np.asarray(M, dtype=np.float64)
    k = m.shape[0]
    fail = FairGradSolution(np.ones(k), False, 0, float("inf"))
    scale = float(np.linalg.norm(m))
    if scale == 0.0 or np.any(np.diagonal(m) <= 0.0):
        return fail
    a_mat = (m + m.T) * (0.5 / scale)
    inv = 1.0 / alpha
    w = 1.0 / np.sqrt(np.diagonal(a_mat))
    quad = float(w @ a_mat @ w)
    if not quad > 0.0:  # the normalised gradients sum to zero: 0 is in their hull
        return fail
    w *= np.sqrt(k / quad)  # the Nash start (exact for orthogonal gradients at alpha = 1)
    residual = float("inf")
    for it in range(max_iter + 1):
        mw = a_mat @ w
        residual = float(np.max(np.abs(w**inv * mw - 1.0)))
        if residual <= tol:
            return FairGradSolution(w * scale ** (-alpha / (1.0 + alpha)), True, it, residual)
        if it == max_iter or w.max() > max_weight:
            break
        grad = mw - w ** (-inv)
        hess = a_mat + np.diag(inv * w ** (-inv - 1.0))
        try:
            step = np.linalg.solve(hess, -grad)
        except np.linalg.LinAlgError:
            break
        slope = float(grad @ step)
        if not slope < 0.0:
            break
        worst = float((step / w).min())
        t = 1.0 if worst > -1.0 else 0.99 / -worst
        f = 0.5 * float(w @ mw) - _phi(w, alpha)
        while t >= 1e-12:
            w_new = w + t * step
            if 0.5 * float(w_new @ a_mat @ w_new) - _phi(w_new, alpha) <= f + 1e-4 * t * slope:
                break
            t *= 0.5
        else:
            break
        w = w_new
    return FairGradSolution(np.ones(k), False, it, residual)


class FairGrad(Weighting):
    """Alpha-fair weights of the batch's cells over their training-loss gradients (Ban & Ji 2024).

    ``alpha`` = 1 gives the Nash bargaining weights (:class:`baselines.nash_mtl.NashMTL`). Cells absent from
    the batch get weight 0. ``info``: ``residual``."""

    name = "fairgrad"
    label = "FairGrad"
    gradients = "training_losses"

    def __init__(self, alpha: float = 2.0) -> None:
        if not alpha > 0 or not math.isfinite(alpha):
            raise ValueError(f"FairGrad's alpha must be a finite number > 0 (got {alpha!r}); set fairgrad_alpha")
        self.alpha = alpha

    def __repr__(self) -> str:
        return f"FairGrad(alpha={self.alpha})"

    def __call__(self, gramian: torch.Tensor, *, generator: torch.Generator | None = None) -> WeightingResult:
        m = check_gramian(gramian)
        present = present_cells(m)
        if present.numel() == 0:
            return WeightingResult(torch.ones(m.shape[0], dtype=m.dtype), False, 0, {})
        sub = m[present][:, present].to(torch.float64).cpu().numpy()
        sol = solve_alpha_fair(sub, self.alpha)
        info = {"residual": sol.residual}
        if not sol.success:
            return WeightingResult(torch.ones(m.shape[0], dtype=m.dtype), False, sol.iterations, info)
        alpha = expand_alpha(torch.from_numpy(sol.weights).to(m.dtype), present, m.shape[0])
        return WeightingResult(alpha, True, sol.iterations, info)
