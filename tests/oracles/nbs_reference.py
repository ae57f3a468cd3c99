"""The reference implementation's Nash bargaining solver, re-created for tests and benchmarks.

Zeng et al., "Fairness-Aware Meta-Learning via Nash Bargaining", NeurIPS 2024,
https://arxiv.org/abs/2406.07029, whose code reuses the sequential convex approximation (SCA) of
Nash-MTL (Navon et al., ICML 2022, https://arxiv.org/abs/2202.01017, ``NashMTL.solve_optimization``).

With ``n = ||M||_F + 1e-6`` and ``G = M / n`` (the "normalised Gramian"), every SCA iteration
solves, from the previous iterate ``p``, the convex problem

    min_{alpha >= 0}  1^T G alpha + phi'(p)^T (alpha - p) / n
    s.t.              -log(alpha_c n) - log((G alpha)_c) <= 0     for every c,

where ``phi'(p) = 1/p + G^T (1 / (G p))`` is the gradient of ``phi(a) = sum_c log a_c +
log (G a)_c`` (its first-order approximation is the objective's second term). The constraint reads
``alpha_c (M alpha)_c >= 1`` up to the 1e-6. Iterations stop when a solve fails or returns nothing,
when ``||G p - 1/(p + 1e-10)|| < 1e-3``, or when the new iterate moves less than 1e-3 from ``p``;
the *previous* iterate ``p`` is returned, starting from ``p = 1`` (float32). Hence failure returns
exactly the all-ones vector, which the meta-learner tests with ``np.all(alpha == 1)``.

The problem is rebuilt and restarted from ones at every call, as the reference did per batch;
cvxpy is imported lazily so that the library does not need it.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

__all__ = ["solve_nbs_reference"]


def _stop(gtg: np.ndarray, alpha_t: np.ndarray, alpha_param, prvs_alpha_param, tol: float) -> bool:
    return (
        alpha_param.value is None
        or np.linalg.norm(gtg @ alpha_t - 1 / (alpha_t + 1e-10)) < tol
        or np.linalg.norm(alpha_param.value - prvs_alpha_param.value) < tol
    )


def solve_nbs_reference(
    M: np.ndarray | torch.Tensor,
    *,
    solver: str = "ECOS",
    max_iter: int = 100,
    tol: float = 1e-3,
    solver_max_iters: int = 100,
) -> tuple[np.ndarray, bool]:
    """Run the reference SCA solver on the Gramian ``M``; return ``(alpha, success)``.

    ``success`` is the reference's own test, ``not np.all(alpha == 1)``. A missing ``solver``
    (e.g. ECOS absent from a recent cvxpy) makes every solve raise, which the reference swallows,
    so it then fails on every call, as the original did.
    """
    import cvxpy as cp

    gtg_in = M.detach().cpu().numpy() if isinstance(M, torch.Tensor) else np.asarray(M)
    k = gtg_in.shape[0]

    # Problem construction, as at the start of every reference batch.
    alpha_param = cp.Variable(shape=(k,), nonneg=True)
    G_param = cp.Parameter(shape=(k, k), value=np.eye(k))
    normalization_factor_param = cp.Parameter(shape=(1,), value=np.array([1.0]))
    prvs_alpha = np.ones(k, dtype=np.float32)
    prvs_alpha_param = cp.Parameter(shape=(k,), value=prvs_alpha)
    G_prvs_alpha = G_param @ prvs_alpha_param
    prvs_phi_tag = 1 / prvs_alpha_param + (1 / G_prvs_alpha) @ G_param
    phi_alpha = prvs_phi_tag @ (alpha_param - prvs_alpha_param)
    G_alpha = G_param @ alpha_param
    constraints = [
        -cp.log(alpha_param[i] * normalization_factor_param) - cp.log(G_alpha[i]) <= 0
        for i in range(k)
    ]
    prob = cp.Problem(
        cp.Minimize(cp.sum(G_alpha) + phi_alpha / normalization_factor_param), constraints
    )

    # Normalisation and the SCA loop (``return_weights`` in the reference).
    normalization_factor = np.array([np.linalg.norm(gtg_in)]).reshape((1,)) + 1e-6
    if (np.isnan(normalization_factor) | np.isinf(normalization_factor)).any():
        normalization_factor = np.array([1.0])
    gtg = gtg_in / normalization_factor.item()
    G_param.value = gtg
    normalization_factor_param.value = normalization_factor

    alpha_t = prvs_alpha
    with warnings.catch_warnings():  # the reference notebook ignored all warnings
        warnings.simplefilter("ignore")
        for _ in range(max_iter):
            try:
                alpha_param.value = alpha_t
                prvs_alpha_param.value = alpha_t
                prob.solve(solver=solver, warm_start=True, max_iters=solver_max_iters)
            except Exception:  # the reference used a bare ``except``
                alpha_param.value = prvs_alpha_param.value
            if _stop(gtg, alpha_t, alpha_param, prvs_alpha_param, tol):
                break
            alpha_t = alpha_param.value
    if alpha_t is not None and not (np.isnan(alpha_t) | np.isinf(alpha_t)).any():
        alpha = np.asarray(alpha_t)
    else:
        alpha = prvs_alpha
    return alpha, not bool(np.all(alpha == 1))
