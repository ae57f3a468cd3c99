"""The cross-fitted epoch rule: the test-selected epoch without selecting on the rows it is scored on.

The reference's rule (``test_seed_mean``, :mod:`fairbench.reports.selection`) picks, per configuration,
the epoch maximising the seed-mean test AUC and scores the same rows at that epoch, which is optimistic.
Cross-fitting (sample splitting, as in Chernozhukov et al., "Double/debiased machine learning",
Econometrics Journal 2018) splits the test rows into two halves, stratified by (group, label) cell:
the epoch is chosen on half A by the rule's metric and the rows of half B are scored at it, and vice
versa. Each row is thus predicted at an epoch chosen without it; the two halves' predictions are pooled
into one set of cell counts (for halves of equal cell sizes, each cell's rate is the average of the two
halves' rates), so every count metric, the degenerate test and the test-set variance of a shared test
set apply unchanged.

It needs the per-row predictions of every epoch (``predictions.npz``); runs without them cannot be
cross-fitted and are listed by :func:`cross_fitted_selection`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fairbench.reports.bootstrap import PREDICTIONS_FILE, CellCounts, _n_groups, _split_name, metrics_from_counts
from fairbench.reports.collect import CONFIG_KEYS

__all__ = ["CROSS_FITTED", "cross_fitted_selection", "half_of_rows"]

CROSS_FITTED = "cross_fitted"


def half_of_rows(cell: np.ndarray) -> np.ndarray:
    """True for the rows of half A: within each (group, label) cell, every other row in stored order
    (deterministic, so every run of a shared test set is split alike)."""
    cell = np.asarray(cell)
    half = np.zeros(cell.size, dtype=bool)
    for c in np.unique(cell):
        rows = np.flatnonzero(cell == c)
        half[rows[::2]] = True
    return half


def _best_epoch(curve: np.ndarray) -> int:
    """Index of the first maximum of a seed-mean curve (earliest epoch on ties, as the other rules)."""
    if np.all(np.isnan(curve)):
        raise ValueError("the selection metric is NaN at every epoch of a configuration")
    return int(np.nanargmax(curve))


def cross_fitted_selection(main: pd.DataFrame, *, metric: str = "auc"
                           ) -> tuple[pd.DataFrame, dict[str, CellCounts], list[str]]:
    """(selected rows, cell counts per run_dir, run_dirs lacking ``predictions.npz``).

    Per configuration (:data:`~fairbench.reports.collect.CONFIG_KEYS`) whose every run has
    ``predictions.npz``: for each half of the test rows, the epoch maximising the seed-mean ``metric`` on
    that half; each run's rows of one half are scored at the other half's epoch, and its count metrics
    (``auc``, ``group_auc_gap``, ...) are recomputed from the pooled counts. Configurations with a run
    lacking the file are left out. ``metric`` must be a count metric.
    """
    from fairbench.runs.predictions import load_predictions

    last = main.sort_values("epoch").groupby("run_dir", sort=False).tail(1)
    missing = sorted(str(r) for r in last["run_dir"] if not (Path(str(r)) / PREDICTIONS_FILE).is_file())
    rows, counts = [], {}
    for _, group in last.groupby(list(CONFIG_KEYS), dropna=False, sort=True):
        dirs = list(group["run_dir"])
        if any(d in missing for d in dirs):
            continue
        preds = {d: load_predictions(Path(d) / PREDICTIONS_FILE) for d in dirs}
        per_run = {}
        for d, pred in preds.items():
            n_groups = _n_groups(main, d, pred.group)
            cell = 2 * np.asarray(pred.group, dtype=np.int64) + np.asarray(pred.y, dtype=np.int64)
            right = np.asarray(pred.labels) == np.asarray(pred.y)[None, :]  # (epochs, rows)
            per_run[d] = (cell, right, half_of_rows(cell), n_groups)
        chosen = {}
        for half in (True, False):
            curves = []
            for cell, right, in_a, n_groups in per_run.values():
                rows_here = in_a == half
                correct, total = _counts(cell[rows_here], right[:, rows_here], n_groups)
                curves.append(metrics_from_counts(correct, total)[metric])
            chosen[half] = _best_epoch(np.nanmean(np.stack(curves), axis=0))
        for row in group.to_dict("records"):
            cell, right, in_a, n_groups = per_run[row["run_dir"]]
            # half A scored at the epoch chosen on half B, half B at the one chosen on half A
            pooled = np.where(in_a, right[chosen[False]], right[chosen[True]]).astype(np.uint8)
            correct, total = _counts(cell, pooled[None, :], n_groups)
            c = CellCounts(correct[0], total, pooled, cell, split=_split_name(Path(row["run_dir"]),
                                                                                  str(row.get("setting", ""))))
            counts[row["run_dir"]] = c
            row.update({m: float(v) for m, v in metrics_from_counts(c.correct, c.total).items() if m in row})
            row.update({"selection": CROSS_FITTED, "selected_epoch": -1,
                        "crossfit_epoch_a": chosen[True] + 1, "crossfit_epoch_b": chosen[False] + 1})
            rows.append(row)
    selected = pd.DataFrame(rows, columns=[*main.columns, "selection", "selected_epoch", "crossfit_epoch_a",
                                           "crossfit_epoch_b"])
    return selected.reset_index(drop=True), counts, missing


def _counts(cell: np.ndarray, right: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Correct counts ``(epochs, n_groups, 2)`` of per-epoch correctness ``right`` (epochs, rows), and the
    totals ``(n_groups, 2)``."""
    total = np.bincount(cell, minlength=2 * n_groups).reshape(n_groups, 2)
    onehot = np.zeros((cell.size, 2 * n_groups))
    onehot[np.arange(cell.size), cell] = 1.0
    correct = (right.astype(float) @ onehot).round().astype(np.int64).reshape(right.shape[0], n_groups, 2)
    return correct, total
