"""Properties of the exact Nash bargaining weighting (fairbench.method.nbs) over generated matrix families."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fairbench.method.aggregation import NAN_GRAMIAN_MESSAGE, aggregate
from fairbench.method.nbs import CONVERGED, DIVERGED, NO_SOLUTION, NashBargaining, solve_nbs
from tests.test_agg_families import (
    IN_HULL,
    SOLVABLE,
    random_permutation,
    solvable_correlated,
    solvable_random,
    zero_in_hull,
)

SEEDS = st.integers(min_value=0, max_value=2**31 - 1)
PROPERTY = settings(max_examples=60, deadline=None)


def gramian(G: np.ndarray) -> np.ndarray:
    return G @ G.T


def kkt_residual(alpha: np.ndarray, M: np.ndarray) -> float:
    return float(np.max(np.abs(alpha * (M @ alpha) - 1.0)))


@pytest.mark.parametrize("family", sorted(SOLVABLE))
@given(seed=SEEDS)
@PROPERTY
def test_solution_satisfies_kkt_and_is_positive(family: str, seed: int) -> None:
    M = gramian(SOLVABLE[family](seed))
    sol = solve_nbs(M)
    assert sol.success and sol.status == CONVERGED
    assert np.all(sol.alpha > 0)
    assert kkt_residual(sol.alpha, M) <= 1e-8
    assert sol.residual <= 1e-10
    assert sol.iterations < 100


@pytest.mark.parametrize("family", sorted(SOLVABLE))
@given(seed=SEEDS)
@PROPERTY
def test_direction_conflicts_with_no_cell(family: str, seed: int) -> None:
    G = torch.from_numpy(SOLVABLE[family](seed))
    d, result = aggregate(G, NashBargaining())
    assert result.success
    utilities = G @ d
    assert torch.all(utilities > 0)
    # <d, g_c> = 1 / alpha_c exactly at the bargaining solution.
    ones = torch.ones(len(G), dtype=G.dtype)
    torch.testing.assert_close(utilities * result.alpha, ones, rtol=0, atol=1e-8)


@given(seed=SEEDS)
@PROPERTY
def test_permutation_equivariance(seed: int) -> None:
    M = gramian(solvable_correlated(seed))
    perm = random_permutation(len(M), seed)
    alpha = solve_nbs(M).alpha
    alpha_perm = solve_nbs(M[np.ix_(perm, perm)]).alpha
    np.testing.assert_allclose(alpha_perm, alpha[perm], rtol=1e-9)


@given(seed=SEEDS, log_scale=st.floats(min_value=-12, max_value=12))
@PROPERTY
def test_scaling_the_gramian_scales_alpha_by_inverse_sqrt(seed: int, log_scale: float) -> None:
    M = gramian(solvable_random(seed))
    s = 10.0**log_scale
    base, scaled = solve_nbs(M), solve_nbs(s * M)
    np.testing.assert_allclose(scaled.alpha, base.alpha / np.sqrt(s), rtol=1e-9)
    w = NashBargaining()
    info_base, info_scaled = w(torch.from_numpy(M)).info, w(torch.from_numpy(s * M)).info
    mean_base = info_base["alpha_mean_normalised"]
    assert info_scaled["alpha_mean_normalised"] == pytest.approx(mean_base, rel=1e-9)
    assert info_scaled["scale"] == pytest.approx(s * info_base["scale"], rel=1e-12)


@pytest.mark.parametrize("family", sorted(IN_HULL))
@given(seed=SEEDS)
@PROPERTY
def test_failure_when_zero_is_in_the_hull(family: str, seed: int) -> None:
    sol = solve_nbs(gramian(IN_HULL[family](seed)))
    assert not sol.success
    assert sol.status in (NO_SOLUTION, DIVERGED)
    np.testing.assert_array_equal(sol.alpha, np.ones(len(sol.alpha)))


def test_failure_for_the_papers_example() -> None:
    g = np.random.default_rng(0).standard_normal((2, 10))
    G = np.vstack([g, -(g[0] + g[1])])
    result = NashBargaining()(torch.from_numpy(gramian(G)))
    assert not result.success
    assert torch.equal(result.alpha, torch.ones(3, dtype=torch.float64))


@given(seed=SEEDS)
@settings(max_examples=150, deadline=None)
def test_success_exactly_when_zero_is_outside_the_hull(seed: int) -> None:
    """Overcomplete Gaussian rows (K > B): either case happens; the LP oracle decides."""
    r = np.random.default_rng(seed)
    b = int(r.integers(1, 5))
    k = int(r.integers(b + 1, 3 * b + 3))
    G = r.standard_normal((k, b)) + r.uniform(0, 1.5) * r.standard_normal(b)
    sol = solve_nbs(gramian(G))
    assert sol.success == (not zero_in_hull(G))
    if sol.success:
        assert kkt_residual(sol.alpha, gramian(G)) <= 1e-8


def test_duplicated_rows_get_equal_weights() -> None:
    G = solvable_random(3)
    G2 = np.vstack([G, G[:1]])
    alpha = solve_nbs(gramian(G2)).alpha
    assert alpha[0] == pytest.approx(alpha[-1], rel=1e-10)
    assert kkt_residual(alpha, gramian(G2)) <= 1e-10


def test_single_cell_and_orthogonal_cells_closed_form() -> None:
    assert solve_nbs(np.array([[4.0]])).alpha == pytest.approx([0.5], rel=1e-14)
    norms = np.array([0.5, 2.0, 8.0])
    np.testing.assert_allclose(solve_nbs(np.diag(norms**2)).alpha, 1.0 / norms, rtol=1e-12)


def test_two_cells_closed_form() -> None:
    """K = 2: alpha_1^2 = (m22 - m12 sqrt(m22/m11)) / (m11 m22 - m12^2), and symmetrically."""
    for seed in range(20):
        M = gramian(solvable_correlated(seed)[:2])
        (m11, m12), (_, m22) = M
        a1 = np.sqrt((m22 - m12 * np.sqrt(m22 / m11)) / (m11 * m22 - m12**2))
        a2 = np.sqrt((m11 - m12 * np.sqrt(m11 / m22)) / (m11 * m22 - m12**2))
        np.testing.assert_allclose(solve_nbs(M).alpha, [a1, a2], rtol=1e-9)


@pytest.mark.parametrize("M", [np.zeros((3, 3)), np.zeros((1, 1)), np.diag([1.0, 0.0])])
def test_degenerate_gramians_fail(M: np.ndarray) -> None:
    sol = solve_nbs(M)
    assert not sol.success and sol.status == NO_SOLUTION
    np.testing.assert_array_equal(sol.alpha, np.ones(len(M)))


def test_nan_and_inf_raise() -> None:
    M = gramian(solvable_random(0))
    M[0, -1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        solve_nbs(M)
    with pytest.raises(ValueError, match=NAN_GRAMIAN_MESSAGE):
        NashBargaining()(torch.from_numpy(M))
    M[0, -1] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        solve_nbs(M)
    with pytest.raises(ValueError, match="square"):
        solve_nbs(np.ones((2, 3)))


def test_extreme_scales() -> None:
    G = solvable_correlated(5)
    for s in (1e-150, 1e-30, 1e30, 1e150):
        M = gramian(G) * s
        sol = solve_nbs(M)
        assert sol.success and np.all(np.isfinite(sol.alpha))
        assert kkt_residual(sol.alpha, M) <= 1e-8


def test_weighting_keeps_dtype_and_matches_solver() -> None:
    G = torch.from_numpy(solvable_correlated(1))
    M = G @ G.T
    r64 = NashBargaining()(M)
    r32 = NashBargaining()(M.float())
    assert r64.alpha.dtype == torch.float64 and r32.alpha.dtype == torch.float32
    np.testing.assert_array_equal(r64.alpha.numpy(), solve_nbs(M.numpy()).alpha)
    torch.testing.assert_close(r32.alpha.double(), r64.alpha, rtol=1e-4, atol=0)
    assert r64.success and r64.iterations > 0 and r64.info["residual"] <= 1e-10
    assert r64.info["status"] == float(CONVERGED)


def test_near_failure_is_still_solved() -> None:
    """0 just outside the hull (g_3 = -(g_1 + g_2) + eps h): weights up to ~1e5, still solved."""
    r = np.random.default_rng(2)
    for b in (3, 6, 50):
        g, h = r.standard_normal((2, b)), r.standard_normal(b)
        for eps in (1e-1, 1e-2, 1e-3, 1e-4):
            G = np.vstack([g, -(g[0] + g[1]) + eps * h])
            sol = solve_nbs(gramian(G))
            assert sol.success, (b, eps)
            a, M = sol.alpha, gramian(G)
            assert np.all(G @ (a @ G) > 0)
            # exact up to the rounding error of evaluating M a (cancellation grows like a^2)
            rounding = 16 * len(a) * np.finfo(float).eps * a * (np.abs(M) @ a)
            assert np.all(np.abs(a * (M @ a) - 1.0) <= 1e-9 + rounding)


def test_max_iter_exhaustion_is_a_failure() -> None:
    M = gramian(solvable_correlated(0))
    sol = solve_nbs(M, max_iter=1, tol=1e-300)
    assert not sol.success
    np.testing.assert_array_equal(sol.alpha, np.ones(len(M)))


@pytest.mark.parametrize("family", sorted(IN_HULL))
def test_failure_does_not_rely_on_the_divergence_threshold(family: str) -> None:
    """Even with max_alpha out of the way, rounding never passes for a converged solution."""
    for seed in range(10):
        sol = solve_nbs(gramian(IN_HULL[family](seed)), max_alpha=1e300)
        assert not sol.success
