"""Properties of the comparator weightings: MGDA, PCGrad, CAGrad, IMTL-G."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from baselines.cagrad import CAGrad
from baselines.imtl_g import IMTLG
from baselines.mgda import MGDA, solve_simplex_qp
from baselines.pcgrad import PCGrad
from tests.test_agg_families import IN_HULL, SOLVABLE, solvable_correlated, zero_in_hull

SEEDS = st.integers(min_value=0, max_value=2**31 - 1)
PROPERTY = settings(max_examples=40, deadline=None)
FAMILIES = st.sampled_from(sorted(SOLVABLE))
ALL_FAMILIES = st.sampled_from(sorted(SOLVABLE) + sorted(IN_HULL))


def draw(family: str, seed: int) -> np.ndarray:
    return {**SOLVABLE, **IN_HULL}[family](seed)


def weights(weighting, G: np.ndarray, **kw) -> np.ndarray:
    return weighting(torch.from_numpy(G @ G.T), **kw).alpha.numpy()


# ---------------------------------------------------------------- MGDA


@given(family=ALL_FAMILIES, seed=SEEDS)
@PROPERTY
def test_mgda_is_the_min_norm_point_kkt(family: str, seed: int) -> None:
    G = draw(family, seed)
    M = G @ G.T
    alpha = weights(MGDA(), G)
    assert np.all(alpha >= 0) and alpha.sum() == pytest.approx(1.0, abs=1e-12)
    value, grad = alpha @ M @ alpha, M @ alpha
    tol = 1e-10 * np.abs(M).max()
    assert np.all(grad >= value - tol)  # (M a)_c >= a^T M a
    np.testing.assert_allclose(grad[alpha > 1e-12], value, atol=tol)  # equality on the support


@given(family=FAMILIES, seed=SEEDS)
@PROPERTY
def test_mgda_conflicts_with_no_cell_when_zero_is_outside_the_hull(family: str, seed: int) -> None:
    G = draw(family, seed)
    d = weights(MGDA(), G) @ G
    assert np.all(G @ d >= (d @ d) * (1 - 1e-9)) and d @ d > 0


def test_mgda_reaches_zero_when_zero_is_in_the_hull() -> None:
    for family in IN_HULL.values():
        for seed in range(5):
            G = family(seed)
            result = MGDA()(torch.from_numpy(G @ G.T))
            assert result.info["min_norm_sq"] <= 1e-12 * np.abs(G @ G.T).max()


def test_simplex_qp_matches_slsqp_with_a_linear_term() -> None:
    rng = np.random.default_rng(0)
    for _ in range(10):
        G = rng.standard_normal((6, 4))
        Q, q = G @ G.T, G @ rng.standard_normal(4)  # q in the range of Q
        w, _ = solve_simplex_qp(Q, q)
        obj = lambda x: 0.5 * x @ Q @ x + q @ x  # noqa: E731
        simplex = {"type": "eq", "fun": lambda x: x.sum() - 1}
        ref = minimize(obj, np.full(6, 1 / 6), bounds=[(0, 1)] * 6, method="SLSQP",
                       constraints=simplex, options={"ftol": 1e-14})
        assert obj(w) <= ref.fun + 1e-10
        assert np.all(w >= 0) and w.sum() == pytest.approx(1.0)


# ---------------------------------------------------------------- PCGrad


def pcgrad_on_vectors(G: np.ndarray, generator: torch.Generator | None) -> np.ndarray:
    """PCGrad on the gradient vectors themselves (paper's Algorithm 1), same visiting orders."""
    k = len(G)
    projected = []
    for i in range(k):
        others = [j for j in range(k) if j != i]
        if generator is not None:
            others = [others[p] for p in torch.randperm(k - 1, generator=generator).tolist()]
        g = G[i].copy()
        for j in others:
            if g @ G[j] < 0:
                g -= (g @ G[j]) / (G[j] @ G[j]) * G[j]
        projected.append(g)
    return np.sum(projected, axis=0)


@given(family=ALL_FAMILIES, seed=SEEDS)
@PROPERTY
def test_pcgrad_coefficients_reproduce_the_vector_algorithm(family: str, seed: int) -> None:
    G = draw(family, seed)
    alpha = weights(PCGrad(), G, generator=torch.Generator().manual_seed(seed))
    expected = pcgrad_on_vectors(G, torch.Generator().manual_seed(seed))
    np.testing.assert_allclose(alpha @ G, expected, rtol=1e-9, atol=1e-9 * np.abs(G).max())


def test_pcgrad_without_conflict_is_the_sum() -> None:
    rng = np.random.default_rng(1)
    for _ in range(5):
        G = np.abs(rng.standard_normal((5, 8)))  # pairwise inner products > 0
        alpha = weights(PCGrad(), G, generator=torch.Generator().manual_seed(0))
        np.testing.assert_array_equal(alpha, np.ones(5))


@given(seed=SEEDS)
@PROPERTY
def test_pcgrad_two_cells_never_conflict(seed: int) -> None:
    """Yu et al.: for two tasks the PCGrad update has a non-negative inner product with each."""
    G = np.random.default_rng(seed).standard_normal((2, 5))
    d = weights(PCGrad(), G) @ G
    assert np.all(G @ d >= -1e-12 * np.abs(G).max() ** 2)
    (m11, m12), (_, m22) = G @ G.T
    if m12 < 0:
        # d = (g1 - m12/m22 g2) + (g2 - m12/m11 g1)
        np.testing.assert_allclose(weights(PCGrad(), G), [1 - m12 / m11, 1 - m12 / m22], rtol=1e-12)


def test_pcgrad_is_deterministic_given_the_generator_and_uses_it() -> None:
    G = IN_HULL["combination"](3)
    G = np.vstack([G, -G[:2] + 0.1])
    same = [weights(PCGrad(), G, generator=torch.Generator().manual_seed(7)) for _ in range(2)]
    np.testing.assert_array_equal(same[0], same[1])
    np.testing.assert_array_equal(weights(PCGrad(), G), weights(PCGrad(), G))
    seeded = [weights(PCGrad(), G, generator=torch.Generator().manual_seed(s)) for s in range(10)]
    results = {tuple(alpha) for alpha in seeded}
    assert len(results) > 1  # the order matters, so the generator is really used


# ---------------------------------------------------------------- CAGrad


def cagrad_objective(w: np.ndarray, M: np.ndarray, c: float) -> float:
    k = len(M)
    g0_norm = np.sqrt(max(M.sum(), 0.0)) / k
    return w @ M @ np.full(k, 1 / k) + c * g0_norm * np.sqrt(max(w @ M @ w, 0.0))


def test_cagrad_with_zero_radius_is_the_mean() -> None:
    G = solvable_correlated(2)
    np.testing.assert_array_equal(weights(CAGrad(c=0.0), G), np.full(len(G), 1 / len(G)))


@given(family=ALL_FAMILIES, seed=SEEDS, c=st.sampled_from([0.1, 0.5, 0.9, 2.0]))
@settings(max_examples=30, deadline=None)
def test_cagrad_dual_is_optimal_against_scipy(family: str, seed: int, c: float) -> None:
    G = draw(family, seed)
    M = G @ G.T
    k = len(M)
    result = CAGrad(c=c)(torch.from_numpy(M))
    ours = result.info["objective"]
    scale = np.sqrt(np.abs(M).max() * max(M.sum() / k**2, 0.0)) + 1e-3 * np.abs(M).max()
    rng = np.random.default_rng(seed)
    for start in [np.full(k, 1 / k), *rng.dirichlet(np.ones(k), size=3)]:
        ref = minimize(cagrad_objective, start, args=(M, c), bounds=[(0, 1)] * k, method="SLSQP",
                       constraints={"type": "eq", "fun": lambda x: x.sum() - 1})
        feasible = np.clip(ref.x, 0, None) / np.clip(ref.x, 0, None).sum()  # SLSQP may violate sum = 1
        assert ours <= cagrad_objective(feasible, M, c) + 1e-7 * scale


@given(family=FAMILIES, seed=SEEDS, c=st.sampled_from([0.1, 0.5, 0.9]))
@PROPERTY
def test_cagrad_direction_solves_the_primal(family: str, seed: int, c: float) -> None:
    """d maximises min_c <g_c, d> over ||d - g0|| <= c ||g0||: it lies on that ball's boundary and
    min_c <g_c, d> equals the dual optimum F(w*) (strong duality)."""
    G = draw(family, seed)
    result = CAGrad(c=c)(torch.from_numpy(G @ G.T))
    d, g0 = result.alpha.numpy() @ G, G.mean(axis=0)
    g0_norm = np.linalg.norm(g0)
    assert np.linalg.norm(d - g0) == pytest.approx(c * g0_norm, rel=1e-7)
    assert (G @ d).min() == pytest.approx(result.info["objective"], rel=1e-6, abs=1e-9 * g0_norm**2)


def test_cagrad_rescale_divides_by_one_plus_c_squared() -> None:
    G = solvable_correlated(6)
    plain, rescaled = weights(CAGrad(c=0.5), G), weights(CAGrad(c=0.5, rescale=True), G)
    np.testing.assert_allclose(rescaled, plain / 1.25, rtol=1e-14)
    with pytest.raises(ValueError):
        CAGrad(c=-1.0)


# ---------------------------------------------------------------- IMTL-G


@given(family=FAMILIES, seed=SEEDS)
@PROPERTY
def test_imtl_g_projections_on_unit_gradients_are_equal(family: str, seed: int) -> None:
    G = draw(family, seed)
    result = IMTLG()(torch.from_numpy(G @ G.T))
    alpha = result.alpha.numpy()
    d = alpha @ G
    projections = G @ d / np.linalg.norm(G, axis=1)
    atol = 1e-9 * np.linalg.norm(G, axis=1).max()  # d may be 0 when the rows are dependent
    np.testing.assert_allclose(projections, projections[0], rtol=1e-6, atol=atol)
    assert alpha.sum() == pytest.approx(1.0, abs=1e-9)
    assert result.info["projection"] == pytest.approx(projections[0], rel=1e-6, abs=atol)


def test_imtl_g_reports_a_singular_system() -> None:
    G = solvable_correlated(0)
    G = np.vstack([G, G[:1]])  # a duplicated cell makes D U^T singular
    result = IMTLG()(torch.from_numpy(G @ G.T))
    assert result.info["singular"] == 1.0
    d = result.alpha.numpy() @ G
    projections = G @ d / np.linalg.norm(G, axis=1)
    np.testing.assert_allclose(projections, projections[0], rtol=1e-8)
    regular = solvable_correlated(0)
    assert IMTLG()(torch.from_numpy(regular @ regular.T)).info["singular"] == 0.0


def test_hull_oracle_is_consistent_with_mgda() -> None:
    for family in (*SOLVABLE.values(), *IN_HULL.values()):
        G = family(11)
        min_norm_sq = MGDA()(torch.from_numpy(G @ G.T)).info["min_norm_sq"]
        assert (min_norm_sq <= 1e-12 * np.abs(G @ G.T).max()) == zero_in_hull(G)
