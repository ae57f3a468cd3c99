"""Figures of the benchmark (PNG + PDF, matplotlib Agg), one method -> one colour everywhere; a
two-stage NBS variant shares its objective's colour with a dashed line (docs/method.md §4, §7).

Per setting and protocol: learning curves (test AUC, Max-gAUCD) with a 95 % bootstrap band of the seed
mean (seeds resampled; clipped to the metric's range [0, 1]) and the end of bargaining; bargaining
success over epochs (alignment rate before and after clipping the weights); the AUC-vs-disparity
trade-off at the selected epoch with 95 % intervals and the Pareto front of the non-degenerate methods;
and, when such runs exist, ablations over T and over validation rows per cell. Every band and bar says
what it is; methods with degenerate seeds (:mod:`fairbench.reports.degenerate`) carry the mark and
count in the legend; when the three NBS variants are identical through stage 1, the figure says so.
"""

from __future__ import annotations

import logging
import textwrap
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.transforms as mtransforms  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from fairbench.io import write_with_atomic  # noqa: E402
from fairbench.reports.bootstrap import CellCounts, key_rng, load_selected_counts  # noqa: E402
from fairbench.reports.collect import prefer_experiments  # noqa: E402
from fairbench.reports.degenerate import DEGENERATE_MARK, degenerate_counts, flag_degenerate  # noqa: E402
from fairbench.reports.labels import (PAPER_METHODS, main_methods, method_label, method_order,  # noqa: E402
                                      method_style, metric_label, setting_label, setting_order, split_method)
from fairbench.reports.seed_count import WIDTH_METRICS, widths_by_seed_count  # noqa: E402
from fairbench.reports.selection import select_epochs  # noqa: E402
from fairbench.reports.stats import NBS_PAIRS, bootstrap_summary, nbs_stage1_identical  # noqa: E402
from fairbench.reports.tables import MAIN_EXPERIMENTS, META_METHODS  # noqa: E402

__all__ = ["ablation_figure", "alignment_figure", "curves_figure", "pareto_front", "save_figure",
           "seed_count_figure", "tradeoff_figure", "write_figures"]

log = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("png", "pdf")
DPI = 150
RULE_TITLES = {"test_seed_mean": "epoch of best seed-mean test AUC", "val_loss": "epoch of lowest validation loss",
               "last": "last epoch"}
ABLATIONS = {"T": ("ablation_T", "bargain_epochs", "Bargaining epochs T"),
             "val": ("ablation_val", "val_per_cell", "Validation rows per (group, label) cell")}
#: Bootstrap draws of the curve bands.
BAND_DRAWS = 1000
#: Every plotted metric lies in [0, 1] (AUCs, gaps, rates): bands and bars are clipped to it.
METRIC_RANGE = (0.0, 1.0)


#: Metadata that would make the same figure differ from one rendering to the next (the PDF's and SVG's
#: creation dates), left out so that outputs are byte-identical when their inputs are.
UNDATED_METADATA: dict[str, dict[str, None]] = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}


def save_figure(fig: Figure, stem: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Save ``fig`` as ``stem.<fmt>`` for each format (temporary file, then rename) and close it; the
    files carry no creation date (:data:`UNDATED_METADATA`)."""
    paths = []
    try:
        for fmt in formats:
            path = Path(f"{stem}.{fmt}")
            write_with_atomic(path, lambda tmp, f=fmt: fig.savefig(tmp, format=f, dpi=DPI, bbox_inches="tight",
                                                                   metadata=UNDATED_METADATA.get(f)))
            paths.append(path)
    finally:
        plt.close(fig)
    return paths


def _stage1_end(runs: pd.DataFrame) -> float | None:
    """Last bargaining epoch of the two-stage runs (None when there is none)."""
    two_stage = runs[runs["method"].map(lambda m: split_method(m)[0] is not None)]
    if two_stage.empty or int(two_stage["stage1_epochs"].max()) <= 0:
        return None
    return float(two_stage["stage1_epochs"].median())


def seed_mean_band(values: np.ndarray, *, n_boot: int = BAND_DRAWS, level: float = 0.95,
                   rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seed mean of ``values`` (n_seeds, n_epochs; NaN ignored) and its ``level`` bootstrap band (seeds
    resampled, the same draw for every epoch), clipped to :data:`METRIC_RANGE`."""
    values = np.asarray(values, dtype=float)
    rng = rng or np.random.default_rng(0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0)
        idx = rng.integers(0, values.shape[0], size=(n_boot, values.shape[0]))
        draws = np.nanmean(values[idx], axis=1)
        low, high = np.nanquantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return mean, np.clip(low, *METRIC_RANGE), np.clip(high, *METRIC_RANGE)


def _band_label(runs: pd.DataFrame) -> str:
    counts = runs.groupby("method")["seed"].nunique()
    n = f"{counts.min()}" if counts.min() == counts.max() else f"{counts.min()}-{counts.max()}"
    return f"shaded: 95 % CI of the seed mean (bootstrap over seeds), n = {n} seeds"


def _band_plot(ax: plt.Axes, runs: pd.DataFrame, metric: str, methods: Sequence[str],
               labels: dict[str, str] | None = None) -> None:
    """Seed-mean curve of ``metric`` per method with its 95 % bootstrap band (:func:`seed_mean_band`)."""
    for method in methods:
        wide = runs[runs["method"] == method].pivot_table(index="seed", columns="epoch", values=metric, dropna=False)
        if wide.empty or wide.isna().all().all():
            continue
        mean, low, high = seed_mean_band(wide.to_numpy(), rng=key_rng(0, "band", method, metric))
        style = method_style(method)
        label = (labels or {}).get(method, style["label"])
        ax.plot(wide.columns, mean, color=style["color"], linestyle=style["linestyle"], linewidth=1.6,
                label=f"{label} (n={wide.shape[0]})")
        ax.fill_between(wide.columns, low, high, color=style["color"], alpha=0.12, linewidth=0)


def _coincide_note(frame: pd.DataFrame) -> str:
    found = nbs_stage1_identical(frame)
    if found is None:
        return ""
    upto, end = found
    names = ", ".join(method_label(m) for m in NBS_PAIRS)
    if upto == end:
        return f"{names} are identical through stage 1 (epochs 1-{end}): their curves overlap there"
    return f"{names} are identical through epoch {upto} of the {end} stage-1 epochs: their curves overlap there"


def _degenerate_labels(flagged: pd.DataFrame | None, setting: str, protocol: str,
                       experiments: Sequence[str] | None = MAIN_EXPERIMENTS) -> dict[str, str]:
    """Legend labels with the degenerate mark and count: method -> "ERM ‡ 3/5 degenerate" (runs of
    ``experiments``, all when None)."""
    if flagged is None or "degenerate" not in flagged.columns:
        return {}
    if experiments is not None:
        flagged = prefer_experiments(flagged, experiments)
    sub = flagged[(flagged["setting"] == setting) & (flagged["protocol"] == protocol)]
    if sub.empty:
        return {}
    out = {}
    for r in degenerate_counts(sub, by=("method",)).itertuples():
        if r.n_degenerate:
            out[r.method] = f"{method_label(r.method)} {DEGENERATE_MARK} {r.n_degenerate}/{r.n_runs} degenerate"
    return out


def _mark_bargaining(ax: plt.Axes, end: float | None) -> None:
    if end is not None:
        ax.axvline(end + 0.5, color="black", linestyle=":", linewidth=1.0,
                   label=f"end of bargaining (after epoch {end:g})")


def _legend_below(fig: Figure, axes: Sequence[plt.Axes], ncol: int = 4) -> None:
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(ncol, max(len(labels), 1)), frameon=False,
               bbox_to_anchor=(0.5, -0.02), fontsize=9)
    fig.tight_layout(rect=(0, 0.06 + 0.035 * ((len(labels) - 1) // ncol), 1, 1))


def _runs_for(frame: pd.DataFrame, setting: str, protocol: str, methods: Sequence[str] | None,
              experiments: Sequence[str] = MAIN_EXPERIMENTS) -> pd.DataFrame:
    sub = prefer_experiments(frame, experiments)
    sub = sub[(sub["setting"] == setting) & (sub["protocol"] == protocol)]
    if methods is not None:
        sub = sub[sub["method"].isin(list(methods))]
    if sub.empty:
        raise ValueError(f"no runs for {setting} under the {protocol} protocol (methods={methods})")
    return sub


def _notes_title(fig: Figure, title: str, notes: Sequence[str]) -> None:
    """Suptitle with the notes (what the bands are, coinciding variants, degenerate runs) in smaller type."""
    lines = [n for n in notes if n]
    fig.suptitle(title + ("\n" + "\n".join(lines) if lines else ""), fontsize=11 if not lines else 10)


def curves_figure(frame: pd.DataFrame, setting: str, protocol: str, out_dir: str | Path, *,
                  methods: Sequence[str] = PAPER_METHODS,
                  metrics: Sequence[str] = ("auc", "group_auc_gap"),
                  flagged: pd.DataFrame | None = None) -> list[Path]:
    """Test AUC and Max-gAUCD over epochs (seed mean, 95 % bootstrap band over seeds); the vertical line
    ends bargaining. ``flagged`` (selected runs with degenerate flags) adds the degenerate counts."""
    runs = _runs_for(frame, setting, protocol, methods)
    order = method_order(runs["method"])
    labels = _degenerate_labels(flagged, setting, protocol)
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4.0), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        _band_plot(ax, runs, metric, order, labels)
        _mark_bargaining(ax, _stage1_end(runs))
        ax.set(xlabel="Epoch", ylabel=metric_label(metric) + (" (lower is fairer)" if "gap" in metric else ""),
               title=f"Test {metric_label(metric)}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    notes = [_band_label(runs), _coincide_note(runs)]
    if labels:
        notes.append(f"{DEGENERATE_MARK}: seeds with constant or at-chance test predictions at the selected epoch")
    _notes_title(fig, f"{setting_label(setting)}: learning curves ({protocol} protocol)", notes)
    _legend_below(fig, axes[0])
    return save_figure(fig, Path(out_dir) / f"curves_{protocol}_{setting}")


ALIGNMENT_PANELS = {"alignment_rate": "Before clipping: direction d aligned with every cell",
                    "applied_alignment_rate": "After clipping: applied weights aligned with every cell"}


def alignment_figure(frame: pd.DataFrame, setting: str, protocol: str, out_dir: str | Path, *,
                     methods: Sequence[str] = META_METHODS, flagged: pd.DataFrame | None = None) -> list[Path]:
    """Bargaining success over epochs for the meta methods: the alignment rate of the direction and of the
    clipped weights actually applied (the share of batches improving every validation cell to first order);
    the NBS solvable rate is stated in the title."""
    runs = _runs_for(frame, setting, protocol, methods)
    order = method_order(runs["method"])
    metrics = [m for m in ALIGNMENT_PANELS if m in runs and runs[m].notna().any()]
    labels = _degenerate_labels(flagged, setting, protocol)
    if not metrics:
        raise ValueError(f"no alignment diagnostics for {setting} ({protocol})")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4.0), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        _band_plot(ax, runs, metric, order, labels)
        _mark_bargaining(ax, _stage1_end(runs))
        ax.set(xlabel="Epoch", ylabel="Share of batches", title=ALIGNMENT_PANELS[metric], ylim=(-0.03, 1.03))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    notes = [_band_label(runs), _coincide_note(runs)]
    nbs = runs[runs["method"].isin(list(NBS_PAIRS)) & (runs["epoch"] <= runs["stage1_epochs"])]
    if "nbs_solvable_rate" in nbs and nbs["nbs_solvable_rate"].notna().any():
        notes.append(f"NBS solvable in {nbs['nbs_solvable_rate'].mean():.1%} of the NBS variants' stage-1 batches")
    _notes_title(fig, f"{setting_label(setting)}: bargaining success ({protocol} protocol)", notes)
    _legend_below(fig, axes[0], ncol=3)
    return save_figure(fig, Path(out_dir) / f"alignment_{protocol}_{setting}")


def pareto_front(auc: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """Indices of the points not dominated for (max AUC, min gap), sorted by gap."""
    auc, gap = np.asarray(auc, float), np.asarray(gap, float)
    keep = []
    for i in range(len(auc)):
        dominated = np.any((auc >= auc[i]) & (gap <= gap[i]) & ((auc > auc[i]) | (gap < gap[i])))
        if not dominated and np.isfinite(auc[i]) and np.isfinite(gap[i]):
            keep.append(i)
    return np.array(sorted(keep, key=lambda i: gap[i]), dtype=int)


def tied_groups(x: Sequence[float], y: Sequence[float], digits: int = 3) -> list[list[int]]:
    """Indices of points that coincide at ``digits`` decimals (groups of two or more), in input order."""
    groups: dict[tuple[float, float], list[int]] = {}
    for i, key in enumerate(zip(np.round(np.asarray(x, float), digits), np.round(np.asarray(y, float), digits))):
        groups.setdefault(key, []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def tradeoff_figure(selected: pd.DataFrame, setting: str, protocol: str, out_dir: str | Path, *,
                    methods: Sequence[str] | None = None, counts: Mapping[str, CellCounts] | None = None) -> list[Path]:
    """AUC vs Max-gAUCD at the selected epoch: one small marker per seed, a large one per method mean with
    its 95 % bootstrap intervals (seeds and test rows where predictions.npz exist), and the Pareto front of
    the means of the methods without degenerate seeds. Methods whose means coincide are drawn side by side
    and named together; degenerate ones are hollow, marked and never on the front."""
    runs = _runs_for(selected, setting, protocol, methods)
    counts = load_selected_counts(runs) if counts is None else counts
    if "degenerate" not in runs.columns:
        runs = flag_degenerate(runs, counts)
    order = method_order(runs["method"])
    summary = bootstrap_summary(runs, ["auc", "group_auc_gap"], counts, by=("method",)).set_index(["method", "metric"])
    deg = degenerate_counts(runs, by=("method",)).set_index("method")
    gap = np.array([float(summary.loc[(m, "group_auc_gap"), "mean"]) for m in order])
    auc = np.array([float(summary.loc[(m, "auc"), "mean"]) for m in order])
    ties = tied_groups(gap, auc)
    # tied means: spread on a small circle (radius grows with the group) so that every marker shows
    offsets = {order[i]: ((5.0 + 2.0 * len(g)) * np.cos(2 * np.pi * j / len(g)),
                          (5.0 + 2.0 * len(g)) * np.sin(2 * np.pi * j / len(g)))
               for g in ties for j, i in enumerate(g)}
    tie_of = {order[i]: k for k, g in enumerate(ties, start=1) for i in g}
    fig, ax = plt.subplots(figsize=(7.0, 5.2))
    for i, method in enumerate(order):
        style = method_style(method)
        seeds = runs[runs["method"] == method]
        ax.scatter(seeds["group_auc_gap"], seeds["auc"], color=style["color"], marker=style["marker"], s=18,
                   alpha=0.3, linewidths=0)
        g_ci = summary.loc[(method, "group_auc_gap"), ["ci_low", "ci_high"]].to_numpy(dtype=float)
        a_ci = summary.loc[(method, "auc"), ["ci_low", "ci_high"]].to_numpy(dtype=float)
        ax.errorbar(gap[i], auc[i], xerr=np.abs([[gap[i] - g_ci[0]], [g_ci[1] - gap[i]]]),
                    yerr=np.abs([[auc[i] - a_ci[0]], [a_ci[1] - auc[i]]]), color=style["color"], linewidth=0.8,
                    alpha=0.6, capsize=0, zorder=2)
        n_deg, n_runs = int(deg.loc[method, "n_degenerate"]), int(deg.loc[method, "n_runs"])
        label = style["label"]
        if n_deg:
            label += f" {DEGENERATE_MARK} {n_deg}/{n_runs} degenerate"
        if method in tie_of:
            label += f" [tie {tie_of[method]}]"
        dx, dy = offsets.get(method, (0.0, 0.0))
        shift = mtransforms.offset_copy(ax.transData, fig=fig, x=dx, y=dy, units="points")
        ax.scatter(gap[i], auc[i], transform=shift, color=style["color"], marker=style["marker"], s=90,
                   facecolors="none" if n_deg else style["color"], edgecolors=style["color"] if n_deg else "black",
                   linewidths=1.4 if n_deg else 0.8, label=label, zorder=3)
    eligible = np.array([int(deg.loc[m, "n_degenerate"]) == 0 for m in order])
    front = pareto_front(np.where(eligible, auc, np.nan), np.where(eligible, gap, np.nan))
    if front.size:
        ax.plot(gap[front], auc[front], color="black", linewidth=1.0, linestyle="--", drawstyle="steps-post", zorder=2)
        ax.scatter(gap[front], auc[front], s=260, facecolors="none", edgecolors="black", linewidths=1.2, zorder=4,
                   label="Pareto front of the means (methods without degenerate seeds)")
    rule = "; ".join(RULE_TITLES.get(r, r) for r in sorted(runs["selection"].unique()))
    kinds = sorted(set(summary["ci_kind"]))
    n_seeds = runs.groupby("method")["seed"].nunique().max()
    notes = [f"bars: 95 % CI of the seed mean ({'; '.join(kinds)}), n = {n_seeds} "
             "seeds; small markers: seeds"]
    for k, g in enumerate(ties, start=1):
        notes.append(f"tie {k} (equal means at 3 decimals, drawn side by side): "
                     + " = ".join(method_label(order[i]) for i in g))
    if (~eligible).any():
        notes.append(f"hollow {DEGENERATE_MARK}: degenerate seeds (constant or at-chance predictions), "
                     "never on the front")
    ax.set(xlabel="Max-gAUCD (lower is fairer)", ylabel="Overall AUC (higher is better)")
    wrapped = [line for note in notes for line in textwrap.wrap(note, 110)]
    ax.set_title(f"{setting_label(setting)}: AUC vs disparity ({protocol} protocol, {rule})\n" + "\n".join(wrapped),
                 fontsize=9)
    ax.set_xlim(left=max(METRIC_RANGE[0], ax.get_xlim()[0]))
    ax.set_ylim(top=min(METRIC_RANGE[1] + 0.01, ax.get_ylim()[1]))
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2 if len(labels) < 8 else 3,
               fontsize=7.5, frameon=False)
    return save_figure(fig, Path(out_dir) / f"tradeoff_{protocol}_{setting}")


def ablation_figure(selected: pd.DataFrame, setting: str, protocol: str, out_dir: str | Path, *,
                    kind: str = "T", metrics: Sequence[str] = ("auc", "group_auc_gap")) -> list[Path]:
    """Selected-epoch metrics against T (``kind="T"``) or validation rows per cell (``kind="val"``):
    seed mean and its 95 % bootstrap interval (seeds resampled) per method. Runs of the main experiment
    fill in the reference value."""
    experiment, column, xlabel = ABLATIONS[kind]
    ablated = selected[(selected["experiment"] == experiment) & (selected["setting"] == setting)
                       & (selected["protocol"] == protocol)]
    if ablated.empty:
        raise ValueError(f"no {experiment} runs for {setting} ({protocol})")
    runs = _runs_for(selected, setting, protocol, sorted(ablated["method"].unique()),
                     experiments=(experiment, *MAIN_EXPERIMENTS))
    values = sorted(runs[column].unique())
    epochs = int(runs["epochs"].max())
    ticks = ["all" if kind == "T" and v >= epochs else str(v) for v in values]
    position = {v: i for i, v in enumerate(values)}
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.0 * len(metrics), 3.9), squeeze=False)
    order = method_order(runs["method"])
    width = 0.3 / max(len(order), 1)
    labels = _degenerate_labels(runs, setting, protocol, experiments=None)
    for ax, metric in zip(axes[0], metrics):
        for j, method in enumerate(order):
            points = []
            for value, group in runs[runs["method"] == method].groupby(column):
                mean, low, high = seed_mean_band(group[[metric]].to_numpy(dtype=float),
                                                 rng=key_rng(0, "ablation", method, metric, value))
                points.append((position[value], mean[0], low[0], high[0]))
            x, mean, low, high = (np.array(v) for v in zip(*points))
            x = x + (j - (len(order) - 1) / 2) * width
            style = method_style(method)
            ax.errorbar(x, mean, yerr=np.abs([mean - low, high - mean]), color=style["color"],
                        linestyle=style["linestyle"], marker=style["marker"], capsize=3,
                        label=labels.get(method, style["label"]))
        ax.set_xticks(range(len(values)), ticks)
        ax.set(xlabel=xlabel, ylabel=metric_label(metric), title=metric_label(metric))
        ax.grid(alpha=0.3)
    n = runs.groupby(["method", column])["seed"].nunique()
    seeds = f"{n.min()}" if n.min() == n.max() else f"{n.min()}-{n.max()}"
    _notes_title(fig, f"{setting_label(setting)}: ablation over {xlabel[0].lower() + xlabel[1:]} ({protocol} protocol)",
                 [f"seed mean; bars: 95 % CI of the seed mean (bootstrap over seeds), n = {seeds} seeds"])
    _legend_below(fig, axes[0])
    return save_figure(fig, Path(out_dir) / f"{experiment}_{protocol}_{setting}")


def seed_count_figure(widths: pd.DataFrame, protocol: str, out_dir: str | Path) -> list[Path]:
    """Median interval width over methods against the number of seeds, one line per setting and one panel
    per metric, with the ``1 / sqrt(n)`` line through each setting's last (most precise) point (dashed)."""
    here = widths[widths["protocol"] == protocol]
    metrics = [m for m in WIDTH_METRICS if m in set(here["metric"])]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, metric in zip(axes[0], metrics):
        for i, setting in enumerate(setting_order(here["setting"].unique())):
            rows = here[(here["setting"] == setting) & (here["metric"] == metric)]
            median = rows.groupby("n")["width"].median()
            n = median.index.to_numpy(dtype=float)
            ax.plot(n, median.to_numpy(), marker="o", color=colours(i), label=setting_label(setting))
            ax.plot(n, median.iloc[-1] * np.sqrt(n[-1] / n), linestyle="--", color=colours(i), linewidth=0.9)
        ax.set_xlabel("seeds (the first n)")
        ax.set_ylabel("width of the 95 % CI")
        ax.set_title(metric_label(metric))
        ax.set_ylim(bottom=0)
    kinds = "; ".join(sorted(set(here["ci_kind"])))
    n_methods = here.groupby("setting")["method"].nunique()
    methods = f"{n_methods.min()}" if n_methods.min() == n_methods.max() else f"{n_methods.min()}-{n_methods.max()}"
    fig.suptitle(f"Interval width against seeds ({protocol} protocol)\n"
                 f"markers: median over {methods} methods of the width of the 95 % bootstrap CI of the seed mean "
                 f"({kinds}); dashed: 1/sqrt(n) through the last point",
                 fontsize=9)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, -0.06), frameon=False)
    fig.tight_layout()
    return save_figure(fig, Path(out_dir) / f"ci_width_by_seeds_{protocol}")


def write_figures(frame: pd.DataFrame, out_dir: str | Path, *, selection: str | None = None) -> list[Path]:
    """Every figure the runs support, per protocol and setting; returns the written paths.

    ``frame`` comes from :func:`~fairbench.reports.collect.collect_runs`; ``selection=None`` uses each
    protocol's own epoch rule for the trade-off and ablation figures.
    """
    if frame.empty:
        raise ValueError("no runs: nothing to plot")
    selected = select_epochs(frame, selection)
    counts = load_selected_counts(selected)
    selected = flag_degenerate(selected, counts)
    paths: list[Path] = []
    jobs: list[tuple[str, Callable[[], list[Path]]]] = []
    for protocol in sorted(frame["protocol"].unique()):
        for setting in setting_order(frame.loc[frame["protocol"] == protocol, "setting"]):
            here = frame[(frame["protocol"] == protocol) & (frame["setting"] == setting)]
            methods = set(here.loc[here["experiment"].isin(MAIN_EXPERIMENTS), "method"])
            if methods & set(PAPER_METHODS):
                main = main_methods(here.loc[here["experiment"] == "main", "method"])
                jobs.append(("curves", lambda s=setting, p=protocol, m=main: curves_figure(frame, s, p, out_dir,
                                                                                           methods=m, flagged=selected)))
                jobs.append(("tradeoff", lambda s=setting, p=protocol: tradeoff_figure(selected, s, p, out_dir,
                                                                                       counts=counts)))
            if methods & set(META_METHODS):
                jobs.append(("alignment", lambda s=setting, p=protocol: alignment_figure(frame, s, p, out_dir,
                                                                                         flagged=selected)))
            for kind, (experiment, _, _) in ABLATIONS.items():
                if (here["experiment"] == experiment).any():
                    jobs.append((experiment, lambda s=setting, p=protocol, k=kind:
                                 ablation_figure(selected, s, p, out_dir, kind=k)))
    widths = widths_by_seed_count(prefer_experiments(selected, MAIN_EXPERIMENTS), counts)
    for protocol in sorted(widths["protocol"].unique()) if not widths.empty else []:
        jobs.append(("seed count", lambda p=protocol: seed_count_figure(widths, p, out_dir)))
    if not jobs:
        raise ValueError("the runs support no figure (no paper method, meta method or ablation runs)")
    for name, job in jobs:
        paths.extend(job())
    return paths
