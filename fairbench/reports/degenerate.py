"""Degenerate runs: classifiers whose selected-epoch test predictions carry no signal.

A run is **degenerate** at its selected epoch when either

- **constant**: it predicts one class for every test row. Read from ``predictions.npz`` when present,
  else from ``metrics.csv``: every group's (TPR, FPR) is (0, 0) (all negative) or every group's is
  (1, 1) (all positive); or
- **chance** ("not distinguishable from chance on this test set"): the 95 % row-bootstrap interval of
  the run's AUC (test rows resampled within (group, label) cells, :mod:`fairbench.reports.bootstrap`)
  contains 0.5. This is a per-run 5 % test whose power is set mostly by the test set's size (on 24 rows
  a fair model often fails it): it says the run is **underpowered**, not that the model failed, unlike
  **constant**, which is a model failure.

The cell counts come from ``predictions.npz``, else they are rebuilt from ``metrics.csv``: the test
sets are balanced by (group, label) cell, so each cell holds ``n_test / cells`` rows (``run.json``) and
its correct count is ``TPR_g n`` (label 1) or ``(1 - FPR_g) n`` (label 0). Only a run whose record does
not allow this (unbalanced cells, rates that are not multiples of ``1 / n``) stays ``untested``.

Such a model has AUC 0.5 and often a group gap of exactly 0, so it would look "fairest". The tables and
figures mark every (setting, method) with at least one degenerate seed (:data:`DEGENERATE_MARK` and the
count), never bold it as best and never put it on a Pareto front.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fairbench.reports.bootstrap import CellCounts, draw_counts, key_rng, metrics_from_counts, percentile_ci
from fairbench.reports.stats import GROUP_KEYS

__all__ = ["CHANCE_DRAWS", "DEGENERATE_MARK", "REASON_LABELS", "counts_from_rates", "degenerate_counts",
           "flag_degenerate", "format_count", "is_constant_from_rates"]

DEGENERATE_MARK = "‡"
#: Row-bootstrap draws of one run's AUC for the chance test.
CHANCE_DRAWS = 2000
COUNT_COLUMNS = ("n_runs", "n_degenerate", "n_constant", "n_chance", "n_untested")
#: What each reason means, said wherever degenerate runs are counted.
REASON_LABELS = {"constant": "constant predictor (one class for every test row: a model failure)",
                 "chance": "not distinguishable from chance on this test set (AUC interval over its test rows "
                           "contains 0.5: underpowered, not necessarily a failure)"}
#: Largest distance of ``rate * n`` from an integer accepted when rebuilding counts from rates.
RATE_TOLERANCE = 1e-6


def is_constant_from_rates(row: Mapping[str, object], columns: Sequence[str]) -> bool:
    """True when every group's (TPR, FPR) in ``row`` is (0, 0), or every one is (1, 1) (NaNs ignored)."""
    tprs = [float(row[c]) for c in columns if c.startswith("tpr/") and pd.notna(row[c])]
    fprs = [float(row[c]) for c in columns if c.startswith("fpr/") and pd.notna(row[c])]
    rates = tprs + fprs
    if not tprs or not fprs:
        return False
    return all(r == 0.0 for r in rates) or all(r == 1.0 for r in rates)


def _is_constant_from_counts(counts: CellCounts) -> bool:
    """All rows one class: every label-1 row right and every label-0 row wrong, or the reverse."""
    k, n = counts.correct, counts.total
    return bool(np.all(k[:, 1] == n[:, 1]) and np.all(k[:, 0] == 0)
                or np.all(k[:, 1] == 0) and np.all(k[:, 0] == n[:, 0]))


def counts_from_rates(row: Mapping[str, object], data: Mapping[str, object]) -> CellCounts | None:
    """The run's test cell counts rebuilt from its per-group TPR and FPR (``row``, from metrics.csv) and
    its record's ``data`` (``groups``, ``cells``, ``n_test``); None when the cells are not balanced or a
    rate is not a multiple of ``1 / n_cell``."""
    groups, cells, n_test = data.get("groups"), data.get("cells"), data.get("n_test")
    if not isinstance(groups, list) or not isinstance(cells, list) or not isinstance(n_test, int) or not cells:
        return None
    if n_test % len(cells) or len(cells) != 2 * len(groups):
        return None
    n = n_test // len(cells)
    correct = np.zeros((len(groups), 2), dtype=np.int64)
    for g, name in enumerate(groups):
        tpr, fpr = row.get(f"tpr/{name}"), row.get(f"fpr/{name}")
        if tpr is None or fpr is None or pd.isna(tpr) or pd.isna(fpr):
            return None
        for label, value in ((1, float(tpr) * n), (0, (1.0 - float(fpr)) * n)):
            if abs(value - round(value)) > RATE_TOLERANCE * max(n, 1):
                return None
            correct[g, label] = int(round(value))
    return CellCounts(correct=correct, total=np.full((len(groups), 2), n, dtype=np.int64))


def _record_data(run_dir: str) -> Mapping[str, object]:
    try:
        data = json.loads((Path(run_dir) / "run.json").read_text()).get("data", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return data if isinstance(data, dict) else {}


#: A run's identity: its configuration and seed.
RUN_KEY = (*GROUP_KEYS, "seed")


def flag_degenerate(selected: pd.DataFrame, counts: Mapping[str, CellCounts], *, seed: int = 0,
                    n_draws: int = CHANCE_DRAWS, level: float = 0.95) -> pd.DataFrame:
    """``selected`` with columns ``degenerate`` (bool), ``degenerate_reason`` ("constant", "chance" or
    "", :data:`REASON_LABELS`), ``chance_tested`` (False when neither ``predictions.npz`` nor the rates of
    metrics.csv give the run's cell counts) and ``counts_source`` ("predictions", "metrics" or ""),
    plus the run's row-bootstrap AUC interval ``run_auc_low``/``run_auc_high`` where it was computed."""
    rate_columns = [c for c in selected.columns if c.startswith(("tpr/", "fpr/"))]
    reasons, tested, lows, highs, sources = [], [], [], [], []
    for row in selected.to_dict("records"):
        c = counts.get(str(row["run_dir"]))
        source = "predictions" if c is not None else ""
        if c is None:
            c = counts_from_rates(row, _record_data(str(row["run_dir"])))
            source = "metrics" if c is not None else ""
        lo = hi = float("nan")
        if c is not None:
            constant = _is_constant_from_counts(c)
            # keyed by the run's identity, not its folder: the same runs in another results_dir give the
            # same interval
            rng = key_rng(seed, "chance", *(row.get(k) for k in RUN_KEY))
            draws = draw_counts(rng, np.broadcast_to(c.correct, (n_draws, *c.correct.shape)),
                                np.broadcast_to(c.total, (n_draws, *c.total.shape)))
            lo, hi = percentile_ci(metrics_from_counts(draws, c.total)["auc"], level)
            chance = lo <= 0.5 <= hi
        else:
            constant, chance = is_constant_from_rates(row, rate_columns), False
        reasons.append("constant" if constant else "chance" if chance else "")
        tested.append(c is not None)
        sources.append(source)
        lows.append(lo)
        highs.append(hi)
    out = selected.copy()
    out["degenerate_reason"] = reasons
    out["degenerate"] = out["degenerate_reason"] != ""
    out["chance_tested"] = tested
    out["counts_source"] = sources
    out["run_auc_low"], out["run_auc_high"] = lows, highs
    return out


def degenerate_counts(flagged: pd.DataFrame, by: Sequence[str] = ("protocol", "setting", "method")) -> pd.DataFrame:
    """Per group of ``by``: runs, degenerate runs, of which constant predictors / not distinguishable from
    chance on their test set (:data:`REASON_LABELS`), and runs whose chance test could not run."""
    keys = [k for k in by if k in flagged.columns]
    grouped = flagged.groupby(keys, sort=True, dropna=False)
    out = pd.DataFrame({
        "n_runs": grouped["run_dir"].nunique(),
        "n_degenerate": grouped["degenerate"].sum(),
        "n_constant": grouped["degenerate_reason"].agg(lambda s: int((s == "constant").sum())),
        "n_chance": grouped["degenerate_reason"].agg(lambda s: int((s == "chance").sum())),
        "n_untested": grouped["chance_tested"].agg(lambda s: int((~s.astype(bool)).sum())),
    }).reset_index()
    return out.astype({c: int for c in COUNT_COLUMNS})


def format_count(n_degenerate: int, n_runs: int) -> str:
    """``" ‡ (3/5 degenerate)"`` or ``""``."""
    return f" {DEGENERATE_MARK} ({n_degenerate}/{n_runs} degenerate)" if n_degenerate else ""
