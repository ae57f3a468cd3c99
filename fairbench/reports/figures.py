"""Figures of the benchmark (PNG + PDF, matplotlib Agg), one method -> one colour everywhere; a
two-stage NBS variant shares its objective's colour with a dashed line (docs/method.md §4, §7).

Per setting and protocol: learning curves (test AUC, Max-gAUCD) with a ±1 std seed band and the end
of bargaining; bargaining success over epochs; the AUC-vs-disparity trade-off with its Pareto front;
and, when such runs exist, ablations over T and over validation rows per cell.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from fairbench.io import write_with_atomic  # noqa: E402
from fairbench.reports.collect import prefer_experiments  # noqa: E402
from fairbench.reports.labels import (PAPER_METHODS, method_order, method_style, metric_label,  # noqa: E402
                                      setting_label, setting_order, split_method)
from fairbench.reports.selection import select_epochs  # noqa: E402
from fairbench.reports.tables import MAIN_EXPERIMENTS, META_METHODS  # noqa: E402

__all__ = ["ablation_figure", "alignment_figure", "curves_figure", "pareto_front", "save_figure",
           "tradeoff_figure", "write_figures"]

log = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("png", "pdf")
DPI = 150
RULE_TITLES = {"test_seed_mean": "epoch of best seed-mean test AUC", "val_loss": "epoch of lowest validation loss",
               "last": "last epoch"}
ABLATIONS = {"T": ("ablation_T", "bargain_epochs", "Bargaining epochs T"),
             "val": ("ablation_val", "val_per_cell", "Validation rows per (group, label) cell")}


def save_figure(fig: Figure, stem: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Save ``fig`` as ``stem.<fmt>`` for each format (temporary file, then rename) and close it."""
    paths = []
    try:
        for fmt in formats:
            path = Path(f"{stem}.{fmt}")
            write_with_atomic(path, lambda tmp, f=fmt: fig.savefig(tmp, format=f, dpi=DPI, bbox_inches="tight"))
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


def _band_plot(ax: plt.Axes, runs: pd.DataFrame, metric: str, methods: Sequence[str]) -> None:
    """Seed-mean curve of ``metric`` per method with a ±1 std band (ddof=1)."""
    for method in methods:
        curve = runs[runs["method"] == method].groupby("epoch")[metric].agg(["mean", "std", "count"])
        curve = curve[curve["mean"].notna()]
        if curve.empty:
            continue
        style = method_style(method)
        ax.plot(curve.index, curve["mean"], color=style["color"], linestyle=style["linestyle"], linewidth=1.6,
                label=f"{style['label']} (n={int(curve['count'].max())})")
        std = curve["std"].fillna(0.0)
        ax.fill_between(curve.index, curve["mean"] - std, curve["mean"] + std, color=style["color"], alpha=0.12,
                        linewidth=0)


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


def curves_figure(frame: pd.DataFrame, setting: str, protocol: str, out_dir: str | Path, *,
                  methods: Sequence[str] = PAPER_METHODS,
                  metrics: Sequence[str] = ("auc", "group_auc_gap")) -> list[Path]:
    """Test AUC and Max-gAUCD over epochs (seed mean ± 1 std); the vertical line ends bargaining."""
    runs = _runs_for(frame, setting, protocol, methods)
    order = method_order(runs["method"])
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4.0), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        _band_plot(ax, runs, metric, order)
        _mark_bargaining(ax, _stage1_end(runs))
        ax.set(xlabel="Epoch", ylabel=metric_label(metric) + (" (lower is fairer)" if "gap" in metric else ""),
               title=f"Test {metric_label(metric)}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    fig.suptitle(f"{setting_label(setting)}: learning curves ({protocol} protocol)", fontsize=12)
    _legend_below(fig, axes[0])
    return save_figure(fig, Path(out_dir) / f"curves_{protocol}_{setting}")


def alignment_figure(frame: pd.DataFrame, setting: str, protocol: str, out_dir: str | Path, *,
                     methods: Sequence[str] = META_METHODS) -> list[Path]:
    """Bargaining success (alignment rate) and NBS solvability over epochs for the meta methods."""
    runs = _runs_for(frame, setting, protocol, methods)
    order = method_order(runs["method"])
    metrics = [m for m in ("alignment_rate", "nbs_solvable_rate") if m in runs and runs[m].notna().any()]
    if not metrics:
        raise ValueError(f"no alignment diagnostics for {setting} ({protocol})")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4.0), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        _band_plot(ax, runs, metric, order)
        _mark_bargaining(ax, _stage1_end(runs))
        ax.set(xlabel="Epoch", ylabel="Share of batches", title=metric_label(metric), ylim=(-0.03, 1.03))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    fig.suptitle(f"{setting_label(setting)}: bargaining success ({protocol} protocol)", fontsize=12)
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


def tradeoff_figure(selected: pd.DataFrame, setting: str, protocol: str, out_dir: str | Path, *,
                    methods: Sequence[str] | None = None) -> list[Path]:
    """AUC vs Max-gAUCD at the selected epoch: one small marker per seed, a large one per method mean,
    and the Pareto front of the method means (higher AUC, lower gap)."""
    runs = _runs_for(selected, setting, protocol, methods)
    order = method_order(runs["method"])
    means = runs.groupby("method")[["auc", "group_auc_gap"]].mean().loc[order]
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for method in order:
        style = method_style(method)
        seeds = runs[runs["method"] == method]
        ax.scatter(seeds["group_auc_gap"], seeds["auc"], color=style["color"], marker=style["marker"], s=18,
                   alpha=0.35, linewidths=0)
        ax.scatter(means.loc[method, "group_auc_gap"], means.loc[method, "auc"], color=style["color"],
                   marker=style["marker"], s=90, edgecolors="black", linewidths=0.8, label=style["label"], zorder=3)
    front = pareto_front(means["auc"].to_numpy(), means["group_auc_gap"].to_numpy())
    if front.size:
        gap, auc = means["group_auc_gap"].to_numpy()[front], means["auc"].to_numpy()[front]
        ax.plot(gap, auc, color="black", linewidth=1.0, linestyle="--", drawstyle="steps-post", zorder=2)
        ax.scatter(gap, auc, s=260, facecolors="none", edgecolors="black", linewidths=1.2, zorder=4,
                   label="Pareto front of the means")
    rule = "; ".join(RULE_TITLES.get(r, r) for r in sorted(runs["selection"].unique()))
    ax.set(xlabel="Max-gAUCD (lower is fairer)", ylabel="Overall AUC (higher is better)",
           title=f"{setting_label(setting)}: AUC vs disparity\n({protocol} protocol, {rule})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return save_figure(fig, Path(out_dir) / f"tradeoff_{protocol}_{setting}")


def ablation_figure(selected: pd.DataFrame, setting: str, protocol: str, out_dir: str | Path, *,
                    kind: str = "T", metrics: Sequence[str] = ("auc", "group_auc_gap")) -> list[Path]:
    """Selected-epoch metrics against T (``kind="T"``) or validation rows per cell (``kind="val"``):
    mean ± std over seeds per method. Runs of the main experiment fill in the reference value."""
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
    for ax, metric in zip(axes[0], metrics):
        for j, method in enumerate(order):
            stats = runs[runs["method"] == method].groupby(column)[metric].agg(["mean", "std", "count"])
            x = np.array([position[v] for v in stats.index]) + (j - (len(order) - 1) / 2) * width
            style = method_style(method)
            ax.errorbar(x, stats["mean"], yerr=stats["std"].fillna(0.0), color=style["color"],
                        linestyle=style["linestyle"], marker=style["marker"], capsize=3, label=style["label"])
        ax.set_xticks(range(len(values)), ticks)
        ax.set(xlabel=xlabel, ylabel=metric_label(metric), title=metric_label(metric))
        ax.grid(alpha=0.3)
    fig.suptitle(f"{setting_label(setting)}: ablation over {xlabel[0].lower() + xlabel[1:]} "
                 f"({protocol} protocol, mean ± std over seeds)",
                 fontsize=11)
    _legend_below(fig, axes[0])
    return save_figure(fig, Path(out_dir) / f"{experiment}_{protocol}_{setting}")


def write_figures(frame: pd.DataFrame, out_dir: str | Path, *, selection: str | None = None) -> list[Path]:
    """Every figure the runs support, per protocol and setting; returns the written paths.

    ``frame`` comes from :func:`~fairbench.reports.collect.collect_runs`; ``selection=None`` uses each
    protocol's own epoch rule for the trade-off and ablation figures.
    """
    if frame.empty:
        raise ValueError("no runs: nothing to plot")
    selected = select_epochs(frame, selection)
    paths: list[Path] = []
    jobs: list[tuple[str, Callable[[], list[Path]]]] = []
    for protocol in sorted(frame["protocol"].unique()):
        for setting in setting_order(frame.loc[frame["protocol"] == protocol, "setting"]):
            here = frame[(frame["protocol"] == protocol) & (frame["setting"] == setting)]
            methods = set(here.loc[here["experiment"].isin(MAIN_EXPERIMENTS), "method"])
            if methods & set(PAPER_METHODS):
                jobs.append(("curves", lambda s=setting, p=protocol: curves_figure(frame, s, p, out_dir)))
                jobs.append(("tradeoff", lambda s=setting, p=protocol: tradeoff_figure(selected, s, p, out_dir)))
            if methods & set(META_METHODS):
                jobs.append(("alignment", lambda s=setting, p=protocol: alignment_figure(frame, s, p, out_dir)))
            for kind, (experiment, _, _) in ABLATIONS.items():
                if (here["experiment"] == experiment).any():
                    jobs.append((experiment, lambda s=setting, p=protocol, k=kind:
                                 ablation_figure(selected, s, p, out_dir, kind=k)))
    if not jobs:
        raise ValueError("the runs support no figure (no paper method, meta method or ablation runs)")
    for name, job in jobs:
        paths.extend(job())
    return paths
