"""Seed statistics and paired tests (docs/protocols.md §4).

- Spread: the sample standard deviation over seeds, **ddof = 1** (``numpy.std`` defaults to ddof = 0,
  which is smaller by a factor sqrt((n - 1) / n)); 95 % t-interval ``mean +- t_{0.975, n-1} s / sqrt(n)``.
- Paired tests: each NBS variant against its one-stage counterpart (nbs_ltr vs ltr, ...), seeds paired
  by seed number (under the standard protocol a seed also fixes the split), per setting and metric;
  paired t-test (``scipy.stats.ttest_rel``) or Wilcoxon signed-rank (``scipy.stats.wilcoxon``).
- Multiplicity: Holm-Bonferroni within each (experiment, protocol, metric) family.

Degenerate cases give NaN with a ``note`` instead of a warning: fewer than two paired seeds, and
differences with zero variance (identical results, or a constant shift that no test can judge).

Intervals: :func:`bootstrap_summary` gives every (configuration, metric) the 95 % t-interval of the seed
mean, with the shared test set's row variance (a bootstrap of its rows within (group, label) cells, the
seeds fixed) added where every seed scored one test set; where each seed drew its own test set the seed
spread already holds that noise (docs/protocols.md §4). :func:`improvement_probabilities` gives P(NBS
variant better than its one-stage counterpart) per setting and aggregated over settings, with a
stratified bootstrap percentile interval over seeds (and the shared test set's rows where there is one).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from fairbench.reports.labels import NBS_PAIRS  # NBS variant -> one-stage counterpart, from the registry

__all__ = ["NBS_PAIRS", "POI_METRICS", "TESTS", "bootstrap_summary", "describe", "holm_bonferroni",
           "improvement_probabilities", "nbs_stage1_identical", "paired_test", "paired_tests", "summarise"]

TESTS: tuple[str, ...] = ("t", "wilcoxon")
GROUP_KEYS: tuple[str, ...] = ("experiment", "protocol", "setting", "method", "bargain_epochs", "val_per_cell")
#: Metrics of the probability of improvement, and whether higher is better.
POI_METRICS: dict[str, bool] = {"auc": True, "worst_group_auc": True, "group_auc_gap": False}
#: Columns compared to decide that the NBS variants coincide in stage 1.
STAGE1_COLUMNS: tuple[str, ...] = ("train_loss", "auc", "group_auc_gap", "alignment_rate", "applied_alignment_rate")
#: Columns that fix a comparison up to the setting (one family of the paired tests).
CONTEXT_KEYS: tuple[str, ...] = ("experiment", "protocol", "bargain_epochs", "val_per_cell")


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


def _runs_by_seed(group: pd.DataFrame) -> pd.DataFrame:
    return group.drop_duplicates("run_dir").sort_values("seed", kind="stable")


def bootstrap_summary(selected: pd.DataFrame, metrics: Sequence[str], counts: Mapping[str, object] | None = None, *,
                      by: Sequence[str] = GROUP_KEYS, n_boot: int | None = None, seed: int = 0,
                      level: float = 0.95) -> pd.DataFrame:
    """Long table like :func:`summarise` (n, mean, std with ddof = 1) whose ``ci_low``/``ci_high`` are the
    ``level`` t-interval of the seed mean (:func:`fairbench.reports.inference.mean_estimate`), which keeps
    its coverage at 5 seeds; ``ci_kind`` says which noise it holds.

    ``counts`` maps run_dir -> :class:`~fairbench.reports.bootstrap.CellCounts` (from
    :func:`~fairbench.reports.bootstrap.load_selected_counts`). Where every run of a group scored one shared
    test set (the paper protocol), the test-set variance of the seed mean, from a bootstrap of the test
    rows within (group, label) cells with the seeds held fixed, is added to the seed variance; where each
    seed drew its own test set, the seed spread already holds that noise and nothing is added.
    """
    from fairbench.reports import bootstrap as bs
    from fairbench.reports.inference import mean_estimate

    if selected.empty:
        raise ValueError("no selected runs to summarise")
    n_boot = n_boot or bs.DEFAULT_BOOTSTRAPS
    counts = counts or {}
    rows = []
    keys = [k for k in by if k in selected.columns]
    for key, group in selected.groupby(keys, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        runs = _runs_by_seed(group)
        units = bs.units_of(counts, list(runs["run_dir"]))  # type: ignore[arg-type]
        shared = units is not None and bs.shares_test_set(units)
        row_var: dict[str, float] = {}
        if shared:
            row_var = bs.row_variances(units, n_boot, bs.key_rng(seed, "summary", *key))  # type: ignore[arg-type]
        for metric in metrics:
            if metric not in runs.columns:
                continue
            values = runs[metric].to_numpy(dtype=float)
            base = describe(values, level)
            if metric in row_var:
                kind = bs.CI_KINDS["rows"]
            elif metric in bs.COUNT_METRICS and units is not None:
                kind = bs.CI_KINDS["own"]
            elif units is not None:
                kind = bs.CI_KINDS["scores"]
            else:
                kind = bs.CI_KINDS["seeds"]
            low, high = mean_estimate(values, row_var.get(metric, 0.0)).interval(level)
            rows.append({**dict(zip(keys, key)), "metric": metric, **base, "ci_low": low, "ci_high": high,
                         "ci_kind": kind})
    return pd.DataFrame(rows)


def _pair_draws(a: pd.DataFrame, b: pd.DataFrame, idx: np.ndarray, counts: Mapping[str, object],
                rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """Row-resampled count metrics of two methods' runs (sorted by the same seeds) at the seed draws
    ``idx``: metric -> ((n_boot, n_seeds) of a, same of b). One draw of row multiplicities serves both
    when all their runs share one test set. None unless every run has counts."""
    from fairbench.reports import bootstrap as bs

    ua = bs.units_of(counts, list(a["run_dir"]))  # type: ignore[arg-type]
    ub = bs.units_of(counts, list(b["run_dir"]))  # type: ignore[arg-type]
    if ua is None or ub is None or ua[0].correct.shape != ub[0].correct.shape:
        return None
    if not bs.shares_test_set(ua + ub):
        return None  # each seed its own test set: the seed spread already holds the test-set noise
    weights = bs.row_weights(rng, ua[0].cell, idx.shape[0])
    ma = bs.metrics_from_counts(*bs.resample_counts(ua, idx, rng, weights))
    mb = bs.metrics_from_counts(*bs.resample_counts(ub, idx, rng, weights))
    return {m: (ma[m], mb[m]) for m in ma}


def _relative(x: np.ndarray, y: np.ndarray, higher: bool) -> np.ndarray:
    """Relative improvement of the mean of x over the mean of y (last axis): (x - y) / y, or (y - x) / y
    when lower is better; NaN where the baseline mean is 0."""
    mx, my = np.nanmean(x, axis=-1), np.nanmean(y, axis=-1)
    diff = (mx - my) if higher else (my - mx)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(my != 0, diff / np.where(my != 0, my, 1.0), np.nan)


def improvement_probabilities(selected: pd.DataFrame, counts: Mapping[str, object] | None = None, *,
                              metrics: Mapping[str, bool] = POI_METRICS, pairs: Mapping[str, str] = NBS_PAIRS,
                              n_boot: int | None = None, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """P(NBS variant better than its one-stage counterpart) with a bootstrap interval (Agarwal et al. 2021).

    Per (experiment, protocol, T, validation rows) family, setting, pair and metric (``metrics`` maps
    each to "higher is better"): ``p_improve`` over the seeds both methods ran, its interval (seeds
    resampled jointly for the two methods, as they share each seed's split and initial weights; test
    rows too where all their runs score one shared test set, never where each seed drew its own), and the relative improvement of the seed means
    (``rel_improve``: (NBS - one-stage) / one-stage, sign flipped for lower-is-better metrics) with its
    interval. Rows with ``setting == "all"`` average over the settings of an (experiment, protocol)
    (stratified bootstrap: each setting's seeds resampled within it; per T and validation rows only in
    experiments that vary them, else ``-1`` marks settings with different reference values);
    ``method == "all"`` also averages over the pairs.
    """
    from fairbench.reports import bootstrap as bs

    n_boot = n_boot or bs.DEFAULT_BOOTSTRAPS
    counts = counts or {}
    context = [k for k in CONTEXT_KEYS if k in selected.columns]
    rows: list[dict[str, object]] = []
    variants = _varied_families(selected, context)
    # (pooling family, pair or "all", metric) -> list over settings of (point, draws, n, rows, setting, context)
    pooled: dict[tuple, list[tuple[float, np.ndarray, int, bool, str]]] = {}
    for ckey, family in selected.groupby(context, sort=True, dropna=False):
        ckey = ckey if isinstance(ckey, tuple) else (ckey,)
        for setting, group in family.groupby("setting", sort=True):
            per_method = {m: _runs_by_seed(g).set_index("seed", drop=False) for m, g in group.groupby("method")}
            present = [(a, b) for a, b in pairs.items() if a in per_method and b in per_method]
            if not present:
                continue
            rng = bs.key_rng(seed, "poi", *ckey, setting)
            for method, baseline in present:
                seeds = sorted(set(per_method[method].index) & set(per_method[baseline].index))
                if not seeds:
                    continue
                a, b = per_method[method].loc[seeds], per_method[baseline].loc[seeds]
                idx = bs.key_rng(seed, "poi-seeds", *ckey, setting).integers(0, len(seeds), size=(n_boot, len(seeds)))
                row_draws = _pair_draws(a, b, idx, counts, rng) or {}
                for metric, higher in metrics.items():
                    if metric not in group.columns:
                        continue
                    x, y = a[metric].to_numpy(dtype=float), b[metric].to_numpy(dtype=float)
                    xd, yd = row_draws.get(metric, (x[idx], y[idx]))
                    point = float(bs.probability_of_improvement(x, y, higher=higher))
                    draws = bs.probability_of_improvement(xd, yd, higher=higher)
                    own = bs.units_of(counts, list(a["run_dir"]) + list(b["run_dir"])) is not None  # type: ignore[arg-type]
                    kind = bs.CI_KINDS["rows" if metric in row_draws else "scores" if row_draws
                                       else ("own" if metric in bs.COUNT_METRICS else "scores") if own else "seeds"]
                    rel_lo, rel_hi = bs.percentile_ci(_relative(xd, yd, higher), level)
                    rows.append({**dict(zip(context, ckey)), "setting": setting, "method": method,
                                 "baseline": baseline, "metric": metric, "n_settings": 1, "n": len(seeds),
                                 "p_improve": point, **_ci(draws, level), "mean_method": float(np.nanmean(x)),
                                 "mean_baseline": float(np.nanmean(y)),
                                 "rel_improve": float(_relative(x, y, higher)), "rel_low": rel_lo,
                                 "rel_high": rel_hi, "ci_kind": kind})
                    for pair_key in (method, "all"):
                        family = ckey if ckey[:2] in variants else ckey[:2]
                        pooled.setdefault((family, pair_key, metric), []).append(
                            (point, draws, len(seeds), kind == bs.CI_KINDS["rows"], setting, ckey))
    for (family, method, metric), items in pooled.items():
        # T and validation rows: the family's own values, or -1 where settings used different references
        ckey = tuple(family) + tuple(
            int(vals.pop()) if len(vals := {item[5][i] for item in items}) == 1 else -1
            for i in range(len(family), len(context)))
        points = np.array([item[0] for item in items])
        draws = np.mean(np.stack([item[1] for item in items]), axis=0)
        ns = [item[2] for item in items]
        kind = bs.CI_KINDS["rows" if all(item[3] for item in items) else "seeds"]
        rows.append({**dict(zip(context, ckey)), "setting": "all", "method": method,
                     "baseline": pairs.get(method, "all"), "metric": metric,
                     "n_settings": len({item[4] for item in items}),
                     "n": int(min(ns)), "p_improve": float(points.mean()), **_ci(draws, level),
                     "mean_method": np.nan, "mean_baseline": np.nan, "rel_improve": np.nan, "rel_low": np.nan,
                     "rel_high": np.nan, "ci_kind": kind})
    columns = [*context, "setting", "method", "baseline", "metric", "n_settings", "n", "p_improve", "ci_low",
               "ci_high", "mean_method", "mean_baseline", "rel_improve", "rel_low", "rel_high", "ci_kind"]
    return pd.DataFrame(rows, columns=columns)


def _varied_families(selected: pd.DataFrame, context: Sequence[str]) -> set[tuple]:
    """(experiment, protocol) whose settings were run with several (T, validation rows) values (ablations):
    these pool over settings per value; the others pool over settings whatever each setting's reference is."""
    if len(context) <= 2:
        return set()
    per = selected.groupby([*context[:2], "setting"])[list(context[2:])].apply(lambda f: len(f.drop_duplicates()))
    return {key[:2] for key, n in per.items() if n > 1}


def _ci(draws: np.ndarray, level: float) -> dict[str, float]:
    from fairbench.reports.bootstrap import percentile_ci

    low, high = percentile_ci(draws, level)
    return {"ci_low": low, "ci_high": high}


def nbs_stage1_identical(frame: pd.DataFrame) -> tuple[int, int] | None:
    """``(e, k)`` when the NBS variants present (two or more) ran identically (every common seed, the columns of
    :data:`STAGE1_COLUMNS`) through epoch ``e`` of their ``k`` stage-1 epochs, else None. Bargaining does
    not look at the objective, so identical seeds give identical runs until the first batch where the
    solver fails and each variant falls back on its own objective, or until stage 2."""
    variants = [m for m in NBS_PAIRS if m in set(frame["method"])]
    runs = frame[frame["method"].isin(variants)]
    if len(variants) < 2:
        return None
    end = int(runs["stage1_epochs"].min())
    columns = [c for c in STAGE1_COLUMNS if c in runs.columns]
    if end <= 0 or not columns:
        return None
    window = runs[runs["epoch"] <= end]
    seeds = set.intersection(*(set(window.loc[window["method"] == m, "seed"]) for m in variants))
    if not seeds:
        return None
    tables = [window[(window["method"] == m) & window["seed"].isin(seeds)].set_index(["epoch", "seed"])[columns]
              .sort_index() for m in variants]
    if any(not t.index.equals(tables[0].index) for t in tables[1:]):
        return None
    same = np.ones(len(tables[0]), dtype=bool)
    for t in tables[1:]:
        a, b = t.to_numpy(dtype=float), tables[0].to_numpy(dtype=float)
        same &= np.all((a == b) | (np.isnan(a) & np.isnan(b)), axis=1)
    per_epoch = pd.Series(same, index=tables[0].index).groupby(level="epoch").all().sort_index()
    leading = int(per_epoch.cumprod().sum())
    return (leading, end) if leading else None
