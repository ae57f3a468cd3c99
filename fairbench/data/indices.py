"""Row indices of train / validation / test: the paper's split files and a seeded generator.

Recipe (docs/datasets.md §4): a *cell* is a (group, label) pair with index ``group * 2 + y``.
Validation: ``k`` rows per cell. Test: ``floor(test_fraction * N / n_cells)`` rows per cell from
the cell's other rows, drawn **with replacement** in the paper (indices repeat), or without
replacement as a variant. Both are stored cell by cell. Train: every row in neither (sorted).

Validation rows are drawn first: in the paper files, us_crime cell 0 has 7 rows for 14 test draws
and adult-race cell 7 has 50 rows for 146 draws, and in both the test rows cover every row of the
cell except the validation ones; drawing the test first would often leave no row for validation.
Without replacement, cells that are too small cap the test rows per cell for *all* cells (balance
is kept; a :class:`DataWarning` says so): us_crime (smallest cell 7 rows: 6 test rows per cell
instead of 14), adult-race (50 rows: 47 instead of 146) and bank-age (320 rows: 317 instead of 339).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from fractions import Fraction
from importlib import resources

import numpy as np

from fairbench.data.errors import SPLIT_INVALID, DataWarning, SplitError
from fairbench.data.registry import get_setting

SPLIT_FILE = "combined_arrays.npz"
TEST_CAPPED = (
    "{setting}: without replacement the smallest cell allows only {got} test rows per cell "
    "(recipe: {wanted}); every cell gets {got}"
)


@dataclass(frozen=True)
class SplitIndices:
    """int64 row positions of the three parts (test may repeat rows)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def cells_of(group: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cell index ``group * 2 + y``."""
    return np.asarray(group, dtype=np.int64) * 2 + np.asarray(y, dtype=np.int64)


def rows_per_test_cell(n_rows: int, n_cells: int, test_fraction: float) -> int:
    """``floor(test_fraction * n_rows / n_cells)``, computed exactly (0.03 * 30,000 / 4 is 225, not 224)."""
    return math.floor(Fraction(str(test_fraction)) * n_rows / n_cells)


def load_paper_indices(setting: str) -> SplitIndices:
    """The paper's split file of ``setting``, shipped as package data."""
    spec = get_setting(setting)
    if spec.paper_split is None:
        raise SplitError(SPLIT_INVALID.format(split="paper", setting=setting, detail="it has no paper split file"))
    resource = resources.files("fairbench.data").joinpath("split_files", *spec.paper_split.split("/"), SPLIT_FILE)
    with resource.open("rb") as fh, np.load(fh) as arrays:
        return SplitIndices(
            train=arrays["ind_train"].astype(np.int64),
            val=arrays["val_idx"].astype(np.int64),
            test=arrays["ind_test"].astype(np.int64),
        )


def draw_indices(
    group: np.ndarray,
    y: np.ndarray,
    n_groups: int,
    *,
    seed: int,
    test_fraction: float | None,
    val_per_cell: int,
    test_with_replacement: bool = True,
    setting: str = "",
    test_per_cell: int | None = None,
    cell_names: list[str] | None = None,
) -> SplitIndices:
    """A new split with the paper's recipe, reproducible from ``seed`` (``setting`` and ``cell_names``
    only name errors).

    ``test_per_cell`` (declared settings) replaces ``floor(test_fraction * N / n_cells)``. A cell
    with too few rows for the recipe is refused, naming it (never dropped).
    """
    cells = cells_of(group, y)
    n_cells = 2 * n_groups
    if test_per_cell is not None:
        per_cell = int(test_per_cell)
    elif test_fraction is not None:
        per_cell = rows_per_test_cell(len(cells), n_cells, test_fraction)
    else:
        raise ValueError("a split recipe needs test_per_cell or test_fraction")
    split = f"seed{seed}" + ("" if test_with_replacement else "-norepl")
    pools = [np.flatnonzero(cells == c) for c in range(n_cells)]
    for c, rows in enumerate(pools):
        need = val_per_cell + (1 if per_cell else 0)
        if len(rows) < need:
            name = f" ({cell_names[c]!r})" if cell_names and c < len(cell_names) else ""
            detail = (f"cell {c}{name} has {len(rows)} rows, needs at least {need} ({val_per_cell} validation rows "
                      f"and a test row); merge groups (a 'categories' mapping in the spec) or lower val_per_cell")
            raise SplitError(SPLIT_INVALID.format(split=split, setting=setting, detail=detail))
    if not test_with_replacement:
        room = min(len(rows) for rows in pools) - val_per_cell
        if room < per_cell:
            warnings.warn(TEST_CAPPED.format(setting=setting, wanted=per_cell, got=room), DataWarning, stacklevel=2)
            per_cell = room
    rng = np.random.default_rng(seed)
    test_parts, val_parts = [], []
    for rows in pools:
        val = rng.choice(rows, size=val_per_cell, replace=False)
        rest = np.setdiff1d(rows, val)
        test_parts.append(rng.choice(rest, size=per_cell, replace=test_with_replacement))
        val_parts.append(val)
    test = np.concatenate(test_parts).astype(np.int64)
    val = np.concatenate(val_parts).astype(np.int64)
    train = np.setdiff1d(np.arange(len(cells)), np.concatenate([test, val])).astype(np.int64)
    return SplitIndices(train=train, val=val, test=test)


def check_indices(
    indices: SplitIndices, group: np.ndarray, y: np.ndarray, n_groups: int, *, setting: str, split: str
) -> None:
    """Raise :class:`SplitError` unless the split fits the frame.

    Checks: indices in range; validation disjoint from test; train disjoint from both, without
    repeats; every cell has the same number of test rows and of validation rows.
    """
    n = len(y)
    cells = cells_of(group, y)
    n_cells = 2 * n_groups

    def fail(detail: str) -> None:
        raise SplitError(SPLIT_INVALID.format(split=split, setting=setting, detail=detail))

    for name in ("train", "val", "test"):
        part = getattr(indices, name)
        if part.size and (part.min() < 0 or part.max() >= n):
            fail(f"{name} indices outside 0..{n - 1}")
    if np.intersect1d(indices.val, indices.test).size:
        fail("validation and test rows overlap")
    if np.intersect1d(indices.train, np.concatenate([indices.val, indices.test])).size:
        fail("training rows overlap validation or test rows")
    if np.unique(indices.train).size != indices.train.size:
        fail("training rows repeat")
    for name in ("val", "test"):
        counts = np.bincount(cells[getattr(indices, name)], minlength=n_cells)
        if counts.size != n_cells or np.any(counts != counts[0]):
            fail(f"{name} cells are not balanced: counts {counts.tolist()}")
