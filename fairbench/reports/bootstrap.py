"""Bootstrap confidence intervals over seeds and test rows, and the probability of improvement.

Every hard-label metric of the tables (overall AUC = balanced accuracy, per-group AUC, TPR and FPR,
their gaps, the worst group) is a function of the **correct counts per (group, label) cell** of the
test set (``fairbench/evaluation/metrics.py``): with ``k[g, y]`` correct out of ``n[g, y]``,
``TPR_g = k[g, 1] / n[g, 1]``, ``FPR_g = 1 - k[g, 0] / n[g, 0]``, ``AUC_g = (TPR_g + TNR_g) / 2``
(the mean over the classes present) and the overall AUC the same on the pooled counts.

Resampling the rows of a cell with replacement makes its correct count ``Binomial(n_cell, k / n_cell)``,
so a row bootstrap stratified by cell draws those counts directly (exact, and independent of the
test-set size). The **seed-and-row bootstrap** of a configuration's seed mean resamples its seeds with
replacement and the rows of each test cell (a two-level bootstrap). When the runs score **one shared
test set** (the same ``data.split`` in ``run.json``, e.g. the paper protocol's fixed split), one draw of
row multiplicities (multinomial within each cell) is applied to every run, so that the test-set noise is
shared as it is in the data; runs with their own test sets (the standard protocol redraws the split per
seed) get independent binomial counts. Runs without ``predictions.npz`` get the **seed-only bootstrap**
(seeds resampled, the metric values of ``metrics.csv`` taken as fixed), as do score metrics such as the
score AUC, which the stored hard labels cannot give; every interval says which it is (``ci_kind``).

Probability of improvement (Agarwal et al., "Deep Reinforcement Learning at the Edge of the Statistical
Precipice", NeurIPS 2021): ``P(X > Y) = 1 / (N M) sum_i sum_j S(x_i, y_j)`` with ``S = 1`` when ``x_i``
is better than ``y_j``, ``1/2`` on a tie and 0 otherwise; averaged over settings for the aggregate, with
a stratified bootstrap (seeds resampled within each setting). Methods run with the same seeds share
that seed's split and initial weights (common random numbers), so one draw of seed indices serves both
methods of a pair, and on a shared test set one draw of row multiplicities too.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "CI_KINDS", "COUNT_METRICS", "DEFAULT_BOOTSTRAPS", "PREDICTIONS_FILE", "CellCounts", "counts_from_predictions",
    "draw_counts", "key_rng", "load_selected_counts", "metrics_from_counts", "percentile_ci",
    "probability_of_improvement", "resample_counts", "row_variances", "row_weights", "seed_bootstrap",
    "seed_row_bootstrap",
    "shares_test_set", "units_of",
]

PREDICTIONS_FILE = "predictions.npz"
#: Bootstrap draws per interval.
DEFAULT_BOOTSTRAPS = 2000
#: Labels of what an interval resampled (shown next to every interval): seeds and test rows; seeds only for
#: runs without predictions.npz; seeds only for score metrics, which the stored hard labels cannot give.
CI_KINDS = {"rows": "seeds and the shared test set's rows",
            "own": "seeds, each with its own test set (the seed spread holds the test-set noise)",
            "seeds": "seeds only, no predictions.npz",
            "scores": "seeds only, a score metric (predictions.npz holds hard labels)"}
#: Metrics that are functions of the per-cell correct counts (row bootstrap available).
COUNT_METRICS: tuple[str, ...] = ("auc", "worst_group_auc", "group_auc_gap", "tpr_gap", "fpr_gap",
                                  "equalized_odds_difference", "accuracy")
MISMATCH_MESSAGE = ("{path}: predictions at epoch {epoch} give {metric} = {got:.6f} but metrics.csv has "
                    "{want:.6f}; the two files are from different runs, retrain the run")


@dataclass(frozen=True)
class CellCounts:
    """Correct and total test rows per (group, label) cell, shape ``(n_groups, 2)`` (label 0, label 1);
    optionally the rows themselves (``right``: prediction correct, ``cell``: 2 * group + label) and the
    test set's name (``split``), for resampling a test set shared by several runs jointly."""

    correct: np.ndarray
    total: np.ndarray
    right: np.ndarray | None = None
    cell: np.ndarray | None = None
    split: str | None = None


def counts_from_predictions(y: np.ndarray, group: np.ndarray, labels: np.ndarray,
                            n_groups: int | None = None) -> CellCounts:
    """Cell counts of one epoch's hard ``labels`` against ``y`` (rows in groups ``group``)."""
    y, group, labels = (np.asarray(a, dtype=np.int64) for a in (y, group, labels))
    G = int(n_groups if n_groups is not None else (group.max() + 1 if group.size else 0))
    cell = 2 * group + y
    total = np.bincount(cell, minlength=2 * G).reshape(G, 2)
    right = (labels == y).astype(np.uint8)
    correct = np.bincount(cell, weights=right, minlength=2 * G).reshape(G, 2).astype(np.int64)
    return CellCounts(correct=correct, total=total, right=right, cell=cell)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(np.broadcast_shapes(num.shape, den.shape), np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _balanced(tpr: np.ndarray, tnr: np.ndarray) -> np.ndarray:
    """Mean of TPR and TNR over the classes present (``hard_label_auc_from_counts``)."""
    present = (~np.isnan(tpr)).astype(float) + (~np.isnan(tnr)).astype(float)
    return _ratio(np.nan_to_num(tpr) + np.nan_to_num(tnr), present)


def _nan_reduce(fn, values: np.ndarray) -> np.ndarray:  # noqa: ANN001
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, as in fairbench.evaluation.metrics
        return fn(values, axis=-1)


def metrics_from_counts(correct: np.ndarray, total: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of :data:`COUNT_METRICS` from counts of shape ``(..., n_groups, 2)``; leading axes
    are kept (draws, seeds). Same conventions as ``fairbench/evaluation/metrics.py`` (NaN groups ignored)."""
    k, n = np.asarray(correct, dtype=float), np.asarray(total, dtype=float)
    tnr_g, tpr_g = _ratio(k[..., 0], n[..., 0]), _ratio(k[..., 1], n[..., 1])
    auc_g = _balanced(tpr_g, tnr_g)
    tpr = _ratio(k[..., 1].sum(-1), n[..., 1].sum(-1))
    tnr = _ratio(k[..., 0].sum(-1), n[..., 0].sum(-1))
    fpr_g = 1.0 - tnr_g
    tpr_gap = _nan_reduce(np.nanmax, tpr_g) - _nan_reduce(np.nanmin, tpr_g)
    fpr_gap = _nan_reduce(np.nanmax, fpr_g) - _nan_reduce(np.nanmin, fpr_g)
    return {
        "auc": _balanced(tpr, tnr),
        "worst_group_auc": _nan_reduce(np.nanmin, auc_g),
        "group_auc_gap": _nan_reduce(np.nanmax, auc_g) - _nan_reduce(np.nanmin, auc_g),
        "tpr_gap": tpr_gap, "fpr_gap": fpr_gap,
        "equalized_odds_difference": np.fmax(tpr_gap, fpr_gap),
        "accuracy": _ratio(k.sum((-1, -2)), n.sum((-1, -2))),
    }


def key_rng(seed: int, *key: object) -> np.random.Generator:
    """A generator fixed by ``seed`` and a key (e.g. the configuration), independent of call order."""
    return np.random.default_rng([seed, zlib.crc32("|".join(map(str, key)).encode())])


def draw_counts(rng: np.random.Generator, correct: np.ndarray, total: np.ndarray) -> np.ndarray:
    """One row-bootstrap draw of the correct counts: ``Binomial(n_cell, k_cell / n_cell)`` per cell."""
    total = np.asarray(total, dtype=np.int64)
    p = np.clip(_ratio(np.asarray(correct, dtype=float), total.astype(float)), 0.0, 1.0)
    return rng.binomial(total, np.nan_to_num(p))


def seed_row_bootstrap(correct: np.ndarray, total: np.ndarray, *, n_boot: int = DEFAULT_BOOTSTRAPS,
                       rng: np.random.Generator, seed_idx: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Bootstrap distribution (``n_boot`` draws) of the seed mean of every count metric.

    ``correct``, ``total``: shape ``(n_seeds, n_groups, 2)``. Each draw resamples the seeds
    (``seed_idx``, shape ``(n_boot, n_seeds)``, drawn here when not given) and then every drawn seed's
    test rows within each cell.
    """
    correct, total = np.asarray(correct), np.asarray(total)
    S = correct.shape[0]
    idx = rng.integers(0, S, size=(n_boot, S)) if seed_idx is None else seed_idx
    drawn = draw_counts(rng, correct[idx], total[idx])
    return {m: _nan_reduce(np.nanmean, v) for m, v in metrics_from_counts(drawn, total[idx]).items()}


def shares_test_set(units: Sequence[CellCounts]) -> bool:
    """True when every run scored the same named test set, row for row (same split, labels and groups)."""
    first = units[0]
    if first.split is None or first.right is None or first.cell is None:
        return False
    return all(u.split == first.split and u.right is not None and u.cell is not None
               and np.array_equal(u.cell, first.cell) for u in units[1:])


def row_weights(rng: np.random.Generator, cell: np.ndarray, n_boot: int) -> np.ndarray:
    """(n_boot, n_rows) row multiplicities of a bootstrap of the rows within each cell."""
    weights = np.zeros((n_boot, cell.size))
    for c in np.unique(cell):
        rows = np.flatnonzero(cell == c)
        weights[:, rows] = rng.multinomial(rows.size, np.full(rows.size, 1.0 / rows.size), size=n_boot)
    return weights


def resample_counts(units: Sequence[CellCounts], idx: np.ndarray, rng: np.random.Generator,
                    weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Resampled ``(correct, total)``, shape ``(n_boot, n_seeds, n_groups, 2)``, of the runs ``units``
    (seed axis) at the seed draws ``idx`` (n_boot, n_seeds). On a shared test set the same row
    multiplicities (``weights``, drawn here unless given) apply to every run; else independent binomials."""
    total = np.stack([u.total for u in units])
    if weights is None and not shares_test_set(units):
        return draw_counts(rng, np.stack([u.correct for u in units])[idx], total[idx]), total[idx]
    cell = units[0].cell
    w = row_weights(rng, cell, idx.shape[0]) if weights is None else weights
    rights = np.stack([u.right for u in units]).astype(float)  # (S, n_rows)
    G = total.shape[1]
    full = np.zeros((idx.shape[0], len(units), G, 2))
    for c in np.unique(cell):
        rows = cell == c
        full[:, :, c // 2, c % 2] = w[:, rows] @ rights[:, rows].T
    picked = np.take_along_axis(full, idx[:, :, None, None], axis=1)
    return picked.round().astype(np.int64), total[idx]


def row_variances(units: Sequence[CellCounts], n_boot: int, rng: np.random.Generator) -> dict[str, float]:
    """Test-set variance of the seed mean of every count metric: the runs ``units`` (one per seed, one
    shared test set) held fixed, the shared test rows resampled within (group, label) cells."""
    idx = np.tile(np.arange(len(units)), (n_boot, 1))
    correct, total = resample_counts(units, idx, rng)
    return {m: float(np.nanvar(_nan_reduce(np.nanmean, v), ddof=1))
            for m, v in metrics_from_counts(correct, total).items()}


def seed_bootstrap(values: np.ndarray, *, n_boot: int = DEFAULT_BOOTSTRAPS, rng: np.random.Generator,
                   seed_idx: np.ndarray | None = None) -> np.ndarray:
    """Bootstrap distribution of the mean of ``values`` (one per seed), seeds resampled only."""
    values = np.asarray(values, dtype=float)
    idx = rng.integers(0, values.shape[0], size=(n_boot, values.shape[0])) if seed_idx is None else seed_idx
    return _nan_reduce(np.nanmean, values[idx])


def percentile_ci(draws: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of a bootstrap distribution (NaN draws ignored)."""
    draws = np.asarray(draws, dtype=float)
    draws = draws[~np.isnan(draws)]
    if draws.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def probability_of_improvement(x: np.ndarray, y: np.ndarray, *, higher: bool = True) -> np.ndarray:
    """Agarwal et al. (2021): ``P(X > Y) = mean_{i, j} S(x_i, y_j)`` (ties count 1/2) along the last
    axis of ``x`` and ``y`` (leading axes broadcast, e.g. bootstrap draws); ``higher=False`` when a
    lower value is better (a gap). Values within :data:`~fairbench.reports.inference.TIE_TOLERANCE` tie."""
    from fairbench.reports.inference import better_score

    x, y = np.asarray(x, dtype=float)[..., :, None], np.asarray(y, dtype=float)[..., None, :]
    return better_score(x, y, higher).mean(axis=(-1, -2))


def load_selected_counts(selected: pd.DataFrame, *, check: Sequence[str] = ("auc", "group_auc_gap"),
                         tolerance: float = 1e-6) -> dict[str, CellCounts]:
    """Cell counts at the selected epoch of every run of ``selected`` that has ``predictions.npz``, with
    its test rows and the name of its test set (``data.split`` of run.json, with the setting).

    Runs without the file are left out (their intervals fall back to the seed-only bootstrap). A file
    whose numbers disagree with ``metrics.csv`` (``check`` metrics beyond ``tolerance``) is an error.
    """
    from fairbench.reports.collect import RUN_FILE, read_record
    from fairbench.runs.predictions import expected_shape, load_predictions

    out: dict[str, CellCounts] = {}
    for row in selected.drop_duplicates("run_dir").itertuples(index=False):
        run_dir = str(getattr(row, "run_dir"))
        path = Path(run_dir) / PREDICTIONS_FILE
        if not path.is_file():
            continue
        pred = load_predictions(path, expected_shape(read_record(Path(run_dir) / RUN_FILE)))
        epoch = int(getattr(row, "selected_epoch"))
        if not 1 <= epoch <= pred.epochs:
            raise ValueError(f"{path}: holds {pred.epochs} epochs, the selected epoch is {epoch}; retrain the run")
        n_groups = _n_groups(selected, run_dir, pred.group)
        counts = counts_from_predictions(pred.y, pred.group, pred.labels[epoch - 1], n_groups)
        counts = CellCounts(counts.correct, counts.total, counts.right, counts.cell,
                            split=_split_name(Path(run_dir), str(getattr(row, "setting", ""))))
        got = metrics_from_counts(counts.correct, counts.total)
        values = row._asdict()
        for metric in check:
            want = values.get(metric)
            if want is not None and np.isfinite(want) and abs(float(got[metric]) - float(want)) > tolerance:
                raise ValueError(MISMATCH_MESSAGE.format(path=path, epoch=epoch, metric=metric,
                                                         got=float(got[metric]), want=float(want)))
        out[run_dir] = counts
    return out


def _split_name(run_dir: Path, setting: str) -> str | None:
    """``<setting>/<data.split>`` from the run's run.json (None when it does not say)."""
    import json

    try:
        split = json.loads((run_dir / "run.json").read_text()).get("data", {}).get("split")
    except (OSError, ValueError):
        return None
    return f"{setting}/{split}" if split else None


def _n_groups(selected: pd.DataFrame, run_dir: str, group: np.ndarray) -> int:
    """Groups of a run: the ``auc/<g>`` columns it has values for, at least those seen in the test rows."""
    row = selected[selected["run_dir"] == run_dir].iloc[0]
    named = sum(1 for c in selected.columns if c.startswith("auc/") and pd.notna(row[c]))
    return max(named, int(group.max()) + 1 if group.size else 0)


def units_of(counts: Mapping[str, CellCounts], run_dirs: Sequence[str]) -> list[CellCounts] | None:
    """The counts of ``run_dirs`` in order; None unless every run has counts with the same cell layout."""
    if not run_dirs or any(r not in counts for r in run_dirs):
        return None
    if len({counts[r].correct.shape for r in run_dirs}) != 1:
        return None
    return [counts[r] for r in run_dirs]
