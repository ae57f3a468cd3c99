"""Seed statistics and paired tests (method.md §6).

- Spread: the sample standard deviation over seeds, **ddof = 1** (``numpy.std`` defaults to ddof = 0,
  which is smaller by a factor sqrt((n - 1) / n)); 95 % t-interval ``mean +- t_{0.975, n-1} s / sqrt(n)``.
- Paired tests: each NBS variant against its one-stage counterpart (nbs_ltr vs ltr, ...), seeds paired
  by seed number (under the standard protocol a seed also fixes the split), per setting and metric;
  paired t-test (``scipy.stats.ttest_rel``) or Wilcoxon signed-rank (``scipy.stats.wilcoxon``).
- Multiplicity: Holm-Bonferroni within each (experiment, protocol, metric) family.

Degenerate cases give NaN with a ``note`` instead of a warning: fewer than two paired seeds, and
differences with zero variance (identical results, or a constant shift that no test can judge).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["NBS_PAIRS", "TESTS", "describe", "holm_bonferroni", "paired_test", "paired_tests", "summarise"]

#: NBS variant -> its one-stage counterpart.
NBS_PAIRS: dict[str, str] = {"nbs_ltr": "ltr", "nbs_forml": "forml", "nbs_meta_gdro": "meta_gdro"}
TESTS: tuple[str, ...] = ("t", "wilcoxon")
GROUP_KEYS: tuple[str, ...] = ("experiment", "protocol", "setting", "method", "bargain_epochs", "val_per_cell")


def describe(values: Sequence[float] | np.ndarray, level: float = 0.95) -> dict[str, float]:
    """n, mean, std (ddof = 1), and the ``level`` t-interval of the mean; NaN values are dropped.

    std and the interval are NaN for n < 2.
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    n = x.size
    nan = float("nan")
    if n == 0:
        return {"n": 0, "mean": nan, "std": nan, "ci_low": nan, "ci_high": nan}
    mean = float(x.mean())
    if n < 2:
        return {"n": 1, "mean": mean, "std": nan, "ci_low": nan, "ci_high": nan}
    from scipy import stats as sps  # imported on use: scipy.stats costs seconds at every CLI start

    std = float(x.std(ddof=1))
    half = float(sps.t.ppf(0.5 + level / 2, n - 1)) * std / np.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half}


def summarise(selected: pd.DataFrame, metrics: Sequence[str], *, by: Sequence[str] = GROUP_KEYS,
              level: float = 0.95) -> pd.DataFrame:
    """Long table: one row per group of ``by`` and metric with :func:`describe`'s columns."""
    if selected.empty:
        raise ValueError("no selected runs to summarise")
    rows = []
    keys = [k for k in by if k in selected.columns]
    for key, group in selected.groupby(keys, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        for metric in metrics:
            if metric in group.columns:
                rows.append({**dict(zip(keys, key)), "metric": metric, **describe(group[metric], level)})
    return pd.DataFrame(rows)


def holm_bonferroni(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input order.

    With the m non-NaN p-values sorted, p_(1) <= ... <= p_(m), the adjusted value is
    ``max_{j <= i} min(1, (m - j + 1) p_(j))``. NaN entries stay NaN and do not count towards m.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if ok.size == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def paired_test(a: Sequence[float], b: Sequence[float], test: str = "t") -> dict[str, float | str]:
    """Paired test of ``a`` vs ``b`` (same length, paired by position).

    Returns n, mean_diff (a - b), statistic, p_value and a note ("" when the test ran).
    """
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; valid: {', '.join(TESTS)}")
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = ~(np.isnan(x) | np.isnan(y))
    diff = x[keep] - y[keep]
    nan = float("nan")
    out: dict[str, float | str] = {"n": int(diff.size), "mean_diff": float(diff.mean()) if diff.size else nan,
                                   "statistic": nan, "p_value": nan, "note": ""}
    if diff.size < 2:
        out["note"] = f"n={diff.size} paired seeds: no test"
    elif np.all(diff == 0):
        out["note"] = "identical results: no test"
    elif np.ptp(diff) <= 1e-12 * max(1.0, float(np.abs(diff).max())):
        out["note"] = "differences have zero variance: no test"
    else:
        from scipy import stats as sps

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if test == "t":
                res = sps.ttest_rel(x[keep], y[keep])
            else:
                res = sps.wilcoxon(diff, zero_method="wilcox")
        out["statistic"], out["p_value"] = float(res.statistic), float(res.pvalue)
        if caught:
            out["note"] = "; ".join(str(w.message) for w in caught)
    return out


def paired_tests(selected: pd.DataFrame, metrics: Sequence[str], *, test: str = "t",
                 pairs: Mapping[str, str] = NBS_PAIRS, level: float = 0.05) -> pd.DataFrame:
    """Every NBS variant vs its counterpart, per (experiment, protocol, setting, T, validation rows)
    and metric, seeds paired by seed number; ``p_holm`` is Holm-corrected within each
    (experiment, protocol, metric) family and ``significant`` is ``p_holm < level``."""
    columns = ["experiment", "protocol", "setting", "bargain_epochs", "val_per_cell", "metric", "method", "baseline",
               "n", "mean_diff",
               "statistic", "p_value", "p_holm", "significant", "test", "note"]
    rows = []
    context = ["experiment", "protocol", "setting", "bargain_epochs", "val_per_cell"]
    for key, group in selected.groupby(context, sort=True):
        for method, baseline in pairs.items():
            a = group[group["method"] == method].set_index("seed")
            b = group[group["method"] == baseline].set_index("seed")
            if a.empty or b.empty:
                continue
            seeds = sorted(set(a.index) & set(b.index))
            for metric in metrics:
                if metric not in group.columns:
                    continue
                res = paired_test(a.loc[seeds, metric], b.loc[seeds, metric], test)
                rows.append({**dict(zip(context, key)), "metric": metric, "method": method,
                             "baseline": baseline, **res, "test": test})
    out = pd.DataFrame(rows, columns=[c for c in columns if c not in ("p_holm", "significant")])
    out["p_holm"] = np.nan
    for _, idx in out.groupby(["experiment", "protocol", "metric"]).groups.items():
        out.loc[idx, "p_holm"] = holm_bonferroni(out.loc[idx, "p_value"].to_numpy())
    out["significant"] = out["p_holm"] < level
    return out[columns]
