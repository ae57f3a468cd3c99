"""The seeded split generator and the split checks, on synthetic groups and labels."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairbench.data.errors import DataWarning, SplitError
from fairbench.data.indices import SplitIndices, cells_of, check_indices, draw_indices, rows_per_test_cell


def synthetic(sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of cell c repeated sizes[c] times, shuffled; returns (group, y)."""
    cells = np.repeat(np.arange(len(sizes)), sizes)
    np.random.default_rng(123).shuffle(cells)
    return cells // 2, cells % 2


@pytest.mark.parametrize(
    ("n", "cells", "fraction", "expected"),
    [(48842, 4, 0.03, 366), (48842, 10, 0.03, 146), (45211, 4, 0.03, 339), (30000, 4, 0.03, 225),
     (649, 4, 0.10, 16), (1309, 4, 0.03, 9), (1994, 4, 0.03, 14)],
)  # fmt: skip
def test_rows_per_cell_match_the_paper(n: int, cells: int, fraction: float, expected: int) -> None:
    assert rows_per_test_cell(n, cells, fraction) == expected


def test_draw_is_balanced_disjoint_and_cell_ordered() -> None:
    group, y = synthetic([300, 120, 500, 80])
    idx = draw_indices(group, y, 2, seed=7, test_fraction=0.1, val_per_cell=3)
    cells = cells_of(group, y)
    assert np.bincount(cells[idx.test]).tolist() == [25] * 4
    assert np.bincount(cells[idx.val]).tolist() == [3] * 4
    assert np.all(np.diff(cells[idx.val]) >= 0) and np.all(np.diff(cells[idx.test]) >= 0)
    assert not np.intersect1d(idx.val, idx.test).size
    assert not np.intersect1d(idx.train, np.r_[idx.val, idx.test]).size
    assert np.array_equal(idx.train, np.setdiff1d(np.arange(len(y)), np.r_[idx.val, idx.test]))
    check_indices(idx, group, y, 2, setting="toy", split="seed7")


def test_draw_is_reproducible_from_the_seed() -> None:
    group, y = synthetic([300, 120, 500, 80])
    kwargs = dict(test_fraction=0.1, val_per_cell=2)
    a = draw_indices(group, y, 2, seed=3, **kwargs)
    b = draw_indices(group, y, 2, seed=3, **kwargs)
    c = draw_indices(group, y, 2, seed=4, **kwargs)
    for name in ("train", "val", "test"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.test, c.test)


def test_with_replacement_repeats_rows_and_norepl_does_not() -> None:
    group, y = synthetic([40, 40, 40, 40])
    repl = draw_indices(group, y, 2, seed=0, test_fraction=0.5, val_per_cell=1)
    assert len(np.unique(repl.test)) < len(repl.test)
    norepl = draw_indices(group, y, 2, seed=0, test_fraction=0.5, val_per_cell=1, test_with_replacement=False)
    assert len(np.unique(norepl.test)) == len(norepl.test) == 4 * 20


def test_norepl_caps_every_cell_at_the_smallest_one() -> None:
    group, y = synthetic([7, 500, 100, 400])  # like us_crime: 14 test rows wanted, 6 possible
    with pytest.warns(DataWarning, match="allows only 6 test rows per cell"):
        idx = draw_indices(group, y, 2, seed=0, test_fraction=0.0557, val_per_cell=1, test_with_replacement=False)
    assert np.bincount(cells_of(group, y)[idx.test]).tolist() == [6] * 4
    assert len(np.unique(idx.test)) == 24


def test_small_cells_keep_room_for_validation() -> None:
    group, y = synthetic([7, 500, 100, 400])
    idx = draw_indices(group, y, 2, seed=1, test_fraction=0.0557, val_per_cell=1)  # 14 draws from 6 rows
    check_indices(idx, group, y, 2, setting="toy", split="seed1")


def test_a_cell_smaller_than_the_validation_is_an_error() -> None:
    group, y = synthetic([2, 50, 50, 50])
    with pytest.raises(SplitError, match="cell 0 has 2 rows, needs at least 4"):
        draw_indices(group, y, 2, seed=0, test_fraction=0.1, val_per_cell=3, setting="toy")


@pytest.mark.parametrize(
    ("indices", "detail"),
    [
        (SplitIndices(np.array([0, 1]), np.array([2, 3, 4, 5]), np.array([2, 3, 4, 5])), "validation and test rows"),
        (SplitIndices(np.array([0, 2]), np.array([2, 3, 4, 5]), np.array([6, 7, 8, 9])), "training rows overlap"),
        (SplitIndices(np.array([0, 0]), np.array([2, 3, 4, 5]), np.array([6, 7, 8, 9])), "training rows repeat"),
        (SplitIndices(np.array([0]), np.array([2, 3, 4, 5]), np.array([6, 6, 8, 9])), "test cells are not balanced"),
        (SplitIndices(np.array([0]), np.array([2, 3, 4, 5]), np.array([6, 7, 8, 99])), "outside"),
    ],
)
def test_check_indices_rejects_bad_splits(indices: SplitIndices, detail: str) -> None:
    cells = np.array([0, 1, 0, 1, 2, 3, 0, 1, 2, 3])
    with pytest.raises(SplitError, match=detail):
        check_indices(indices, cells // 2, cells % 2, 2, setting="toy", split="x")


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=4, max_value=60), min_size=4, max_size=10).filter(lambda s: len(s) % 2 == 0),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    k=st.integers(min_value=1, max_value=3),
    replace=st.booleans(),
)
def test_draw_properties(sizes: list[int], seed: int, k: int, replace: bool) -> None:
    group, y = synthetic(sizes)
    n_groups = len(sizes) // 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        idx = draw_indices(
            group, y, n_groups, seed=seed, test_fraction=0.2, val_per_cell=k, test_with_replacement=replace
        )
    check_indices(idx, group, y, n_groups, setting="toy", split="p")
    assert len(idx.train) + len(np.unique(idx.test)) + len(idx.val) == len(y)
    if not replace:
        assert len(np.unique(idx.test)) == len(idx.test)

