"""How the 95 % intervals narrow with more seeds (docs/protocols.md §5, "Seeds and intervals").

The default grid runs 25 seeds on the cheap settings under the standard protocol and 5 elsewhere. For
every configuration with more than :data:`FEW_SEEDS` seeds this module recomputes the bootstrap interval of
the seed mean (``fairbench.reports.stats.bootstrap_summary``: seeds, and test rows where the runs have
``predictions.npz``) twice, on the ``FEW_SEEDS`` smallest seeds and on all of them, and reports the widths
and their ratio. Each seed of the standard protocol draws its own split, initial weights and shuffling, so
the seed mean's standard error scales as ``1 / sqrt(n)``. The intervals are t-intervals, whose expected
width is ``2 t_{0.975, n-1} c4(n) sigma / sqrt(n)`` (``c4(n) = E[s] / sigma``), so the expected ratio of
widths is :func:`expected_width_ratio` (0.35 for 5 -> 25 seeds; ``sqrt(5 / 25)`` = 0.45 would hold only
for a fixed quantile, and 0.53 for percentile bootstrap intervals, which undercover at 5 seeds). The figure of these widths is
:func:`fairbench.reports.figures.seed_count_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from fairbench.reports.bootstrap import CellCounts
from fairbench.reports.labels import HIGHER_IS_BETTER, method_label, method_order, metric_label, setting_label, \
    setting_order
from fairbench.reports.render import Cell, Table
from fairbench.reports.stats import GROUP_KEYS, bootstrap_summary

__all__ = ["FEW_SEEDS", "expected_width_ratio", "WIDTH_METRICS", "ci_widths_by_seeds", "seed_count_table", "widths_by_seed_count"]

#: The seed count of the large settings, against which the extra seeds are measured.
FEW_SEEDS = 5
#: The headline metrics whose intervals are compared.
WIDTH_METRICS: tuple[str, ...] = ("auc", "worst_group_auc", "group_auc_gap")


def _expected_width(n: int) -> float:
    """Expected width of the 95 % t-interval of a mean of ``n`` normal values, in units of sigma."""
    from scipy import special, stats

    c4 = np.sqrt(2.0 / (n - 1)) * np.exp(special.gammaln(n / 2) - special.gammaln((n - 1) / 2))
    return float(2 * stats.t.ppf(0.975, n - 1) * c4 / np.sqrt(n))


def expected_width_ratio(few: int, n: int) -> float:
    """Expected width of the t-interval with ``n`` independent seeds over that with ``few``."""
    return _expected_width(n) / _expected_width(few)


def _widths(group: pd.DataFrame, n: int, metrics: Sequence[str], counts: Mapping[str, CellCounts] | None,
            keys: Sequence[str], n_boot: int | None, seed: int) -> pd.DataFrame:
    """The interval of each metric on the ``n`` smallest seeds of one configuration, indexed by metric."""
    seeds = np.sort(group["seed"].unique())[:n]
    part = group[group["seed"].isin(seeds)]
    summary = bootstrap_summary(part, metrics, counts, by=keys, n_boot=n_boot, seed=seed).set_index("metric")
    return summary.assign(width=summary["ci_high"] - summary["ci_low"])


def _extra_seed_groups(selected: pd.DataFrame, few: int):  # noqa: ANN202
    """(key values, runs) of the configurations with more than ``few`` seeds."""
    keys = [k for k in GROUP_KEYS if k in selected.columns]
    for key, group in selected.groupby(keys, sort=True, dropna=False):
        if group["seed"].nunique() > few:
            yield keys, (key if isinstance(key, tuple) else (key,)), group


def ci_widths_by_seeds(selected: pd.DataFrame, counts: Mapping[str, CellCounts] | None = None, *,
                       few: int = FEW_SEEDS, metrics: Sequence[str] = WIDTH_METRICS, n_boot: int | None = None,
                       seed: int = 0) -> pd.DataFrame:
    """One row per (configuration with more than ``few`` seeds, metric): ``n_few``, ``n_all``, the interval
    widths ``width_few`` (the ``few`` smallest seeds) and ``width_all`` (every seed), ``ratio`` =
    ``width_all / width_few`` and ``expected`` = :func:`expected_width_ratio`; empty when no configuration has
    more than ``few`` seeds. ``selected`` holds one row per run at its selected epoch."""
    metrics = [m for m in metrics if m in selected.columns]
    keys = [k for k in GROUP_KEYS if k in selected.columns]
    columns = [*keys, "metric", "n_few", "n_all", "width_few", "width_all", "ratio", "expected", "ci_kind"]
    rows = []
    for keys, key, group in _extra_seed_groups(selected, few):
        if not metrics:
            break
        first = _widths(group, few, metrics, counts, keys, n_boot, seed)
        full = _widths(group, group["seed"].nunique(), metrics, counts, keys, n_boot, seed)
        for metric in metrics:
            width_few, width_all = first.loc[metric, "width"], full.loc[metric, "width"]
            n_few, n_all = int(first.loc[metric, "n"]), int(full.loc[metric, "n"])
            rows.append({**dict(zip(keys, key)), "metric": metric, "n_few": n_few, "n_all": n_all,
                         "width_few": width_few, "width_all": width_all,
                         "ratio": width_all / width_few if width_few > 0 else np.nan,
                         "expected": expected_width_ratio(n_few, n_all) if n_few > 1 else np.nan, "ci_kind": full.loc[metric, "ci_kind"]})
    return pd.DataFrame(rows, columns=columns)


def widths_by_seed_count(selected: pd.DataFrame, counts: Mapping[str, CellCounts] | None = None, *,
                         few: int = FEW_SEEDS, metrics: Sequence[str] = WIDTH_METRICS, n_boot: int | None = None,
                         seed: int = 0) -> pd.DataFrame:
    """The interval width of each configuration with more than ``few`` seeds on its first n seeds, for n =
    few, 2 few, ... and all: one row per (configuration, metric, n) with ``width`` and ``ci_kind``."""
    metrics = [m for m in metrics if m in selected.columns]
    rows = []
    for keys, key, group in _extra_seed_groups(selected, few):
        n_all = group["seed"].nunique()
        for n in sorted({*range(few, n_all, few), n_all}):
            widths = _widths(group, n, metrics, counts, keys, n_boot, seed)
            rows += [{**dict(zip(keys, key)), "metric": m, "n": n, "width": widths.loc[m, "width"],
                      "ci_kind": widths.loc[m, "ci_kind"]} for m in metrics]
    return pd.DataFrame(rows)


def seed_count_table(widths: pd.DataFrame) -> Table | None:
    """Interval widths with ``n_few`` and ``n_all`` seeds per (protocol, setting, method) and metric, and
    the median ratio over configurations per (protocol, setting); ``None`` without rows."""
    if widths.empty:
        return None
    metrics = [m for m in WIDTH_METRICS if m in set(widths["metric"])]
    rows: list[list[Cell]] = []
    for protocol in sorted(widths["protocol"].unique()):
        here = widths[widths["protocol"] == protocol]
        for setting in setting_order(here["setting"]):
            block = here[here["setting"] == setting]
            for method in method_order(block["method"].unique()):
                mine = block[block["method"] == method].set_index("metric")
                n_few, n_all = int(mine["n_few"].iloc[0]), int(mine["n_all"].iloc[0])
                cells = [Cell(protocol), Cell(setting_label(setting)), Cell(method_label(method)),
                         Cell(f"{n_few} -> {n_all}")]
                for metric in metrics:
                    r = mine.loc[metric]
                    cells.append(Cell(f"{r['width_few']:.3f} -> {r['width_all']:.3f} ({r['ratio']:.2f})"))
                rows.append(cells)
            median = block.groupby("metric")["ratio"].median()
            expected = block["expected"].median()
            rows.append([Cell(protocol), Cell(setting_label(setting)), Cell("median ratio", bold=True),
                         Cell(f"expected {expected:.2f}"),
                         *(Cell(f"{median[m]:.2f}", bold=True) for m in metrics)])
    kinds = sorted(set(widths["ci_kind"]))
    legend = [f"Width of the 95 % t-interval of the seed mean ({'; '.join(kinds)}) with the first "
              "seeds only -> with every seed, and in brackets their ratio.",
              "Expected ratio for independent seeds: the ratio of the t-intervals' expected widths; a ratio near it means the extra seeds "
              "narrow the intervals as they should, a larger one that the intervals are dominated by something "
              "the seeds share."]
    header = ["Protocol", "Setting", "Method", "Seeds",
              *(f"{metric_label(m)} ({'higher' if HIGHER_IS_BETTER.get(m, True) else 'lower'} is better)"
                for m in metrics)]
    return Table(name="ci_width_by_seeds", title="How the intervals narrow with more seeds", header=header,
                 rows=rows, legend=legend, data=widths, group_column=1, align="llll" + "c" * len(metrics))
