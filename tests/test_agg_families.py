"""Families of hypergradient matrices G (K x B) for the aggregator property tests, and their checks.

Each family is a function of a seed. ``solvable_*`` families have 0 outside the convex hull of the
rows (a Nash bargaining solution exists); ``hull_*`` families have 0 inside it (none exists).
The tests in this file check the families themselves against a linear-programming oracle.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy.optimize import linprog

Family = Callable[[int], np.ndarray]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def solvable_random(seed: int) -> np.ndarray:
    """Gaussian rows, K <= B (linearly independent almost surely)."""
    r = _rng(seed)
    k = int(r.integers(1, 11))
    b = int(r.integers(k, 3 * k + 8))
    return r.standard_normal((k, b))


def solvable_correlated(seed: int) -> np.ndarray:
    """Rows sharing a common component, as hypergradients of one batch tend to."""
    r = _rng(seed)
    k, b = int(r.integers(2, 11)), int(r.integers(16, 64))
    return r.uniform(0.1, 1.0) * r.standard_normal((k, b)) + r.standard_normal(b)


def solvable_duplicated(seed: int) -> np.ndarray:
    """Linearly dependent rows: a solvable matrix with some rows repeated (rank < K)."""
    r = _rng(seed)
    base = solvable_random(seed)
    k = base.shape[0]
    extra = r.integers(0, k, size=int(r.integers(1, 4)))
    return np.vstack([base, base[extra]])[r.permutation(k + len(extra))]


def solvable_positive_cone(seed: int) -> np.ndarray:
    """K > B: rows are positive combinations of r < K independent vectors (0 not in the hull)."""
    r = _rng(seed)
    rank = int(r.integers(1, 4))
    k = int(r.integers(rank + 1, 9))
    b = int(r.integers(rank, rank + 3))
    basis = r.standard_normal((rank, b))
    return r.uniform(0.05, 1.0, size=(k, rank)) @ basis


def solvable_scaled(seed: int) -> np.ndarray:
    """A correlated matrix scaled by 10^[-6, 6] (Gramian entries from 1e-12 to 1e12)."""
    return solvable_correlated(seed) * 10.0 ** _rng(seed + 1).uniform(-6, 6)


def hull_sum(seed: int) -> np.ndarray:
    """The paper's simplest failure, g_3 = -(g_1 + g_2), plus optional extra rows, permuted."""
    r = _rng(seed)
    b = int(r.integers(2, 40))
    g = r.standard_normal((2, b))
    rows = [g[0], g[1], -(g[0] + g[1])] + list(r.standard_normal((int(r.integers(0, 4)), b)))
    return np.array(rows)[r.permutation(len(rows))]


def hull_combination(seed: int) -> np.ndarray:
    """0 = sum_c u_c g_c for a random u >= 0 (some u_c = 0): one row solves for the rest."""
    r = _rng(seed)
    k, b = int(r.integers(2, 10)), int(r.integers(2, 40))
    g = r.standard_normal((k, b)) * 10.0 ** r.uniform(-3, 3, size=(k, 1))
    u = r.uniform(0.1, 1.0, size=k) * (r.uniform(size=k) < 0.7)
    u[-1] = r.uniform(0.1, 1.0)
    g[-1] = -(u[:-1] @ g[:-1]) / u[-1]
    return g[r.permutation(k)]


def hull_zero_row(seed: int) -> np.ndarray:
    """A cell with a zero hypergradient."""
    g = solvable_random(seed + 7)
    g[_rng(seed).integers(0, g.shape[0])] = 0.0
    return g


def hull_overcomplete(seed: int) -> np.ndarray:
    """K > B + 1 Gaussian rows with a common direction flipped: 0 in the hull by construction."""
    r = _rng(seed)
    b = int(r.integers(1, 5))
    g = r.standard_normal((b + 1, b))
    w = r.uniform(0.2, 1.0, size=b + 1)  # rows b+1.. from the positive span of -(...)
    return np.vstack([g, -(w @ g)[None, :] * r.uniform(0.5, 2.0)])


SOLVABLE: dict[str, Family] = {
    "random": solvable_random,
    "correlated": solvable_correlated,
    "duplicated": solvable_duplicated,
    "positive_cone": solvable_positive_cone,
    "scaled": solvable_scaled,
}
IN_HULL: dict[str, Family] = {
    "sum": hull_sum,
    "combination": hull_combination,
    "zero_row": hull_zero_row,
    "overcomplete": hull_overcomplete,
}


def zero_in_hull(G: np.ndarray) -> bool:
    """LP oracle: is there u >= 0, sum u = 1, with G^T u = 0 (to a relative 1e-9)?"""
    k, b = G.shape
    scale = np.abs(G).max(axis=1, keepdims=True)
    g = G / np.where(scale > 0, scale, 1.0)  # row scaling keeps the question unchanged
    res = linprog(
        np.zeros(k),
        A_eq=np.vstack([g.T, np.ones((1, k))]),
        b_eq=np.concatenate([np.zeros(b), [1.0]]),
        bounds=[(0, None)] * k,
        method="highs",
    )
    return res.status == 0


def random_permutation(k: int, seed: int) -> np.ndarray:
    return _rng(seed + 12345).permutation(k)


@pytest.mark.parametrize("name", sorted(SOLVABLE))
def test_solvable_families_have_zero_outside_the_hull(name: str) -> None:
    for seed in range(15):
        assert not zero_in_hull(SOLVABLE[name](seed)), (name, seed)


@pytest.mark.parametrize("name", sorted(IN_HULL))
def test_in_hull_families_have_zero_inside_the_hull(name: str) -> None:
    for seed in range(15):
        assert zero_in_hull(IN_HULL[name](seed)), (name, seed)


def test_rank_deficient_families_are_rank_deficient() -> None:
    for seed in range(10):
        for family in (solvable_duplicated, solvable_positive_cone):
            g = family(seed)
            assert np.linalg.matrix_rank(g) < g.shape[0]
