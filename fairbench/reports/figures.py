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

from fairbench.io import write_text_atomic, write_with_atomic  # noqa: E402
from fairbench.reports.bootstrap import CellCounts, key_rng, load_selected_counts  # noqa: E402
from fairbench.reports.degenerate import DEGENERATE_MARK, degenerate_counts, flag_degenerate  # noqa: E402
from fairbench.reports.labels import (NBS_PAIRS, PAPER_METHODS, main_methods, meta_methods,  # noqa: E402
                                      method_families, method_label, method_order, method_style, metric_label,
                                      setting_label, setting_order, split_method)
from fairbench.reports.seed_count import WIDTH_METRICS, widths_by_seed_count  # noqa: E402
from fairbench.reports.selection import select_epochs  # noqa: E402
from fairbench.reports.stats import bootstrap_summary, nbs_stage1_identical  # noqa: E402
from fairbench.reports.sweeps import Sweeps, find_sweeps, lambda_text, prefer_chosen  # noqa: E402
from fairbench.reports.tables import is_ablation, reference_experiments  # noqa: E402

__all__ = ["ablation_figure", "alignment_figure", "curves_figure", "pareto_front", "save_figure",
           "seed_count_figure", "tradeoff_figure", "tradeoff_panels", "write_figures"]

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
#: A trade-off figure with more methods than this is split into panels (:func:`tradeoff_panels`).
PANEL_METHODS = 10
#: Legend entries of the trade-off wrap after this many characters (a tie of several methods is one entry).
LEGEND_WIDTH = 48
#: The page in the figures folder that lists the figures written and those the runs cannot support.
FIGURE_INDEX = "index.md"


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
    names = ", ".join(method_label(m) for m in NBS_PAIRS if m in set(frame["method"]))
    if upto == end:
        return f"{names} are identical through stage 1 (epochs 1-{end}): their curves overlap there"
    return f"{names} are identical through epoch {upto} of the {end} stage-1 epochs: their curves overlap there"


def _degenerate_labels(flagged: pd.DataFrame | None, setting: str, protocol: str, *,
                       all_experiments: bool = False) -> dict[str, str]:
    """Legend labels with the degenerate mark and count: method -> "ERM ‡ 3/5 degenerate" (runs of the
    reference experiments, :func:`~fairbench.reports.tables.reference_experiments`; of all with
    ``all_experiments``)."""
    if flagged is None or "degenerate" not in flagged.columns:
        return {}
    if not all_experiments:
        flagged = prefer_chosen(flagged, reference_experiments(flagged))
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
              experiments: Sequence[str] | None = None) -> pd.DataFrame:
    """Runs of (setting, protocol, methods) in ``experiments`` (default: the reference experiments)."""
    sub = prefer_chosen(frame, reference_experiments(frame) if experiments is None else experiments)
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
                     methods: Sequence[str] | None = None, flagged: pd.DataFrame | None = None) -> list[Path]:
    """Bargaining success over epochs for the meta methods (default: the registry's objectives and their
    NBS variants): the alignment rate of the direction and of the clipped weights actually applied (the
    share of batches improving every validation cell to first order); the NBS solvable rate is stated in
    the title."""
    runs = _runs_for(frame, setting, protocol, meta_methods() if methods is None else methods)
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


def tradeoff_panels(methods: Sequence[str], main: Sequence[str] = PAPER_METHODS,
                    limit: int = PANEL_METHODS) -> list[tuple[str, list[str]]]:
    """(title, methods) per panel of a trade-off figure: one panel up to ``limit`` methods; else the main
    methods (``main``: the paper's and those of the main experiment), then one panel per objective with
    its other aggregators (and the one-stage objective, for reference), then the other baselines."""
    order = method_order(methods)
    if len(order) <= limit:
        return [("", order)]
    objectives = method_families()["OBJECTIVES"]
    panels: list[tuple[str, list[str]]] = []
    first = [m for m in order if m in set(main)]
    if first:
        panels.append(("main methods", first))
    families: dict[str, list[str]] = {}
    for method in (m for m in order if m not in set(first)):
        agg, base = split_method(method)
        families.setdefault(base if agg is not None or base in objectives else "", []).append(method)
    for base, members in families.items():
        if not base:
            continue
        reference = [base] if base in order and base not in members else []
        panels.append((f"{method_label(base)} with other aggregators", method_order([*reference, *members])))
    if "" in families:
        panels.append(("other baselines", families[""]))
    return panels


def _method_summary(runs: pd.DataFrame, counts: Mapping[str, CellCounts]) -> pd.DataFrame:
    """Per method: mean and 95 % interval of AUC and Max-gAUCD, seeds, degenerate seeds."""
    order = method_order(runs["method"])
    summary = bootstrap_summary(runs, ["auc", "group_auc_gap"], counts, by=("method",)).set_index(["method", "metric"])
    deg = degenerate_counts(runs, by=("method",)).set_index("method")
    seeds = runs.groupby("method")["seed"].nunique()
    rows = []
    for method in order:
        row = {"method": method, "n": int(seeds[method]), "n_degenerate": int(deg.loc[method, "n_degenerate"])}
        for metric, short in (("auc", "auc"), ("group_auc_gap", "gap")):
            row[short] = float(summary.loc[(method, metric), "mean"])
            row[f"{short}_low"], row[f"{short}_high"] = summary.loc[(method, metric), ["ci_low", "ci_high"]].to_numpy(
                dtype=float)
        rows.append(row)
    return pd.DataFrame(rows).set_index("method").assign(kinds="; ".join(sorted(set(summary["ci_kind"]))))


def _legend_label(method: str, means: pd.DataFrame) -> str:
    """``"LtR (n=5)"``, with the degenerate mark and count when some seeds are degenerate."""
    r = means.loc[method]
    lam = r.get("fair_lambda", float("nan"))
    chosen = f"λ={lambda_text(lam)}, " if pd.notna(lam) else ""  # a lambda sweep's chosen point
    label = f"{method_label(method)} ({chosen}n={int(r['n'])})"
    return label + (f" {DEGENERATE_MARK} {int(r['n_degenerate'])}/{int(r['n'])} degenerate" if r["n_degenerate"] else "")


def _sweep_means(sweeps: Sweeps, counts: Mapping[str, CellCounts]) -> pd.DataFrame:
    """Per (method, lambda) of every sweep: the seed means of AUC and Max-gAUCD (the same summary as the
    methods' markers) and whether the point is the chosen one."""
    if not sweeps:
        return pd.DataFrame(columns=["method", "fair_lambda", "auc", "gap", "chosen"])
    summary = bootstrap_summary(sweeps.runs, ["auc", "group_auc_gap"], counts, by=("method", "fair_lambda"))
    wide = summary.pivot_table(index=["method", "fair_lambda"], columns="metric", values="mean").reset_index()
    chosen = sweeps.points.set_index(["method", "fair_lambda"])["chosen"]
    wide["chosen"] = [bool(chosen.loc[(m, lam)]) for m, lam in zip(wide["method"], wide["fair_lambda"])]
    return wide.rename(columns={"group_auc_gap": "gap"}).sort_values(["method", "fair_lambda"], ignore_index=True)


def _sweep_curves(ax: plt.Axes, sweep_means: pd.DataFrame, methods: Sequence[str]) -> None:
    """Each regulariser's sweep as a line through its lambda points in lambda order, every point labelled
    with its lambda, the chosen one in bold (the method's large marker sits on it). A method with a single
    point draws no curve."""
    for method in methods:
        points = sweep_means[sweep_means["method"] == method].sort_values("fair_lambda")
        if len(points) < 2:
            continue
        style = method_style(method)
        ax.plot(points["gap"], points["auc"], color=style["color"], linestyle=":", linewidth=1.2,
                marker=style["marker"], markersize=4, zorder=2, gid=f"sweep:{method}",
                label=f"{method_label(method)}: lambda sweep ({', '.join(map(lambda_text, points['fair_lambda']))})")
        for p in points.itertuples():
            ax.annotate(f"λ={lambda_text(p.fair_lambda)}", (p.gap, p.auc), textcoords="offset points", xytext=(4, 4),
                        fontsize=6.5, color=style["color"], fontweight="bold" if p.chosen else "normal")


def _tradeoff_panel(ax: plt.Axes, runs: pd.DataFrame, means: pd.DataFrame, methods: Sequence[str],
                    front: Sequence[str], sweep_means: pd.DataFrame | None = None) -> None:
    """One panel: the seeds (small markers), one large marker per method mean with its 95 % intervals,
    one marker for methods whose means tie (a combined label), the other methods' means in grey, the
    Pareto front of all non-degenerate means, and the panel's lambda sweeps (:func:`_sweep_curves`)."""
    if sweep_means is not None and len(sweep_means):
        _sweep_curves(ax, sweep_means, methods)
    others = means.drop(index=list(methods))
    if len(others):
        ax.scatter(others["gap"], others["auc"], s=14, color="#bbbbbb", zorder=1, label="other methods (means)")
    for method in methods:
        style, r = method_style(method), means.loc[method]
        seeds = runs[runs["method"] == method]
        ax.scatter(seeds["group_auc_gap"], seeds["auc"], color=style["color"], marker=style["marker"], s=18,
                   alpha=0.3, linewidths=0)
        ax.errorbar(r["gap"], r["auc"], xerr=np.abs([[r["gap"] - r["gap_low"]], [r["gap_high"] - r["gap"]]]),
                    yerr=np.abs([[r["auc"] - r["auc_low"]], [r["auc_high"] - r["auc"]]]), color=style["color"],
                    linewidth=0.8, alpha=0.6, capsize=0, zorder=2)
    sub = means.loc[list(methods)]
    ties = tied_groups(sub["gap"], sub["auc"])
    tied = {i for g in ties for i in g}
    groups = ties + [[i] for i in range(len(sub)) if i not in tied]
    for group in sorted(groups):
        members = [sub.index[i] for i in group]
        style, r = method_style(members[0]), means.loc[members[0]]
        degenerate = any(means.loc[m, "n_degenerate"] for m in members)
        label = "\n".join(textwrap.wrap(" = ".join(_legend_label(m, means) for m in members), LEGEND_WIDTH))
        ax.scatter(r["gap"], r["auc"], color=style["color"], marker=style["marker"], s=90 + 30 * (len(members) - 1),
                   facecolors="none" if degenerate else style["color"],
                   edgecolors=style["color"] if degenerate else "black", linewidths=1.4 if degenerate else 0.8,
                   label=label, zorder=3)
    if len(front):
        points = means.loc[list(front)]
        ax.plot(points["gap"], points["auc"], color="black", linewidth=1.0, linestyle="--", drawstyle="steps-post",
                zorder=2)
        ax.scatter(points["gap"], points["auc"], s=260, facecolors="none", edgecolors="black", linewidths=1.2,
                   zorder=4, label="Pareto front of the means (methods without degenerate seeds)")
    ax.set(xlabel="Max-gAUCD (lower is fairer)", ylabel="Overall AUC (higher is better)")
    ax.set_xlim(left=max(METRIC_RANGE[0], ax.get_xlim()[0]))
    ax.set_ylim(top=min(METRIC_RANGE[1] + 0.01, ax.get_ylim()[1]))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7.5, frameon=False)


def tradeoff_figure(selected: pd.DataFrame, setting: str, protocol: str, out_dir: str | Path, *,
                    methods: Sequence[str] | None = None, counts: Mapping[str, CellCounts] | None = None,
                    main: Sequence[str] = PAPER_METHODS) -> list[Path]:
    """AUC vs Max-gAUCD at the selected epoch: one small marker per seed, a large one per method mean with
    its 95 % bootstrap intervals (seeds and test rows where predictions.npz exist), and the Pareto front of
    the means of the methods without degenerate seeds. Methods whose means coincide share one marker and
    one combined label; each legend entry gives the method's seeds (n); degenerate methods are hollow,
    marked and never on the front. More than :data:`PANEL_METHODS` methods are split into panels
    (:func:`tradeoff_panels`), each showing the others' means in grey and the same front.

    A regulariser's lambda sweep (:mod:`fairbench.reports.sweeps`; ``selected`` holds every point's runs)
    is reported at its chosen point like any method, and drawn as a dotted curve through its points."""
    here = selected[(selected["setting"] == setting) & (selected["protocol"] == protocol)]
    sweeps = find_sweeps(here, reference_experiments(selected))
    runs = _runs_for(sweeps.keep_chosen(selected), setting, protocol, methods)
    counts = load_selected_counts(here) if counts is None else counts
    if "degenerate" not in runs.columns:
        runs = flag_degenerate(runs, counts)
    means = _method_summary(runs, counts)
    if sweeps:
        means["fair_lambda"] = sweeps.chosen().set_index("method")["fair_lambda"].reindex(means.index)
    eligible = means["n_degenerate"] == 0
    front_idx = pareto_front(means["auc"].where(eligible).to_numpy(), means["gap"].where(eligible).to_numpy())
    front = [means.index[i] for i in front_idx]
    panels = tradeoff_panels(list(means.index), main)
    sweep_means = _sweep_means(sweeps, counts)
    fig, axes = plt.subplots(len(panels), 1, figsize=(10.5, 4.6 * len(panels)), squeeze=False, layout="constrained")
    for ax, (title, members) in zip(axes[:, 0], panels):
        _tradeoff_panel(ax, runs, means, members, front, sweep_means)
        if title:
            ax.set_title(title, fontsize=10)
    rule = "; ".join(RULE_TITLES.get(r, r) for r in sorted(runs["selection"].unique()))
    notes = [f"bars: 95 % CI of the seed mean ({means['kinds'].iloc[0]}); small markers: seeds; n per method "
             "in the legend",
             "one marker per tie: methods whose means agree at 3 decimals share a marker and a label (A = B)"]
    if (~eligible).any():
        notes.append(f"hollow {DEGENERATE_MARK}: degenerate seeds (constant or at-chance predictions), "
                     "never on the front")
    if sweeps:
        notes.append("dotted lines: a regulariser's lambda sweep, the seed mean of each lambda in lambda order "
                     "(small markers, labelled); its large marker is the chosen lambda (bold label): the highest "
                     "mean validation worst-group AUC, ties to the smaller lambda (no test data)")
    wrapped = [line for note in notes for line in textwrap.wrap(note, 100)]
    fig.suptitle(f"{setting_label(setting)}: AUC vs disparity ({protocol} protocol, {rule})\n" + "\n".join(wrapped),
                 fontsize=9)
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
                     experiments=(experiment, *reference_experiments(selected)))
    values = sorted(runs[column].unique())
    epochs = int(runs["epochs"].max())
    ticks = ["all" if kind == "T" and v >= epochs else str(v) for v in values]
    position = {v: i for i, v in enumerate(values)}
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.0 * len(metrics), 3.9), squeeze=False)
    order = method_order(runs["method"])
    width = 0.3 / max(len(order), 1)
    labels = _degenerate_labels(runs, setting, protocol, all_experiments=True)
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
    """Every figure the runs support, per protocol and setting, and ``index.md``: the figures written and,
    for each figure the runs cannot support, what it needs and lacks. Returns the written paths.

    Any experiment name and any method set work: the learning curves and trade-offs cover the reference
    experiments (every experiment but the ablations, :func:`~fairbench.reports.tables.reference_experiments`),
    the alignment figure the registry's meta methods present. ``frame`` comes from
    :func:`~fairbench.reports.collect.collect_runs`; ``selection=None`` uses each protocol's own epoch rule
    for the trade-off and ablation figures.
    """
    if frame.empty:
        raise ValueError("no runs: nothing to plot")
    selected = select_epochs(frame, selection)
    counts = load_selected_counts(selected)
    every_point = flag_degenerate(selected, counts)
    reference = reference_experiments(frame)
    sweeps = find_sweeps(every_point, reference)  # each lambda sweep at its chosen point; the trade-off draws all
    selected, frame = sweeps.keep_chosen(every_point), sweeps.keep_chosen(frame)
    paths: list[Path] = []
    jobs: list[tuple[str, Callable[[], list[Path]]]] = []
    lacking: list[str] = []
    for protocol in sorted(frame["protocol"].unique()):
        for setting in setting_order(frame.loc[frame["protocol"] == protocol, "setting"]):
            here = frame[(frame["protocol"] == protocol) & (frame["setting"] == setting)]
            where = f"{setting_label(setting)}, {protocol} protocol"
            methods = set(here.loc[here["experiment"].isin(reference), "method"])
            if methods:
                own = here["experiment"].isin([e for e in reference if e != "comparisons"])
                main = main_methods(here.loc[own, "method"])
                jobs.append(("curves", lambda s=setting, p=protocol, m=main: curves_figure(frame, s, p, out_dir,
                                                                                           methods=m, flagged=selected)))
                jobs.append(("tradeoff", lambda s=setting, p=protocol, m=main: tradeoff_figure(
                    every_point, s, p, out_dir, counts=counts, main=m)))
            else:
                lacking.append(f"learning curves and trade-off ({where}): need runs of an experiment that is not "
                               "an ablation; only ablation runs are here")
            if methods & set(meta_methods()):
                jobs.append(("alignment", lambda s=setting, p=protocol: alignment_figure(frame, s, p, out_dir,
                                                                                         flagged=selected)))
            elif methods:
                lacking.append(f"bargaining success ({where}): needs a meta method (one of "
                               f"{', '.join(meta_methods())}); the runs have {', '.join(method_order(methods))}")
            for kind, (experiment, _, _) in ABLATIONS.items():
                if (here["experiment"] == experiment).any():
                    jobs.append((experiment, lambda s=setting, p=protocol, k=kind:
                                 ablation_figure(selected, s, p, out_dir, kind=k)))
    widths = widths_by_seed_count(prefer_chosen(selected, reference), counts)
    for protocol in sorted(widths["protocol"].unique()) if not widths.empty else []:
        jobs.append(("seed count", lambda p=protocol: seed_count_figure(widths, p, out_dir)))
    if widths.empty:
        lacking.append("interval width against seeds: needs a configuration with more than 5 seeds")
    if not (frame["experiment"].map(is_ablation)).any():
        lacking.append(f"ablations over T and validation rows: need runs of the experiments "
                       f"{', '.join(e for e, _, _ in ABLATIONS.values())}")
    for _name, job in jobs:
        paths.extend(job())
    index = Path(out_dir) / FIGURE_INDEX
    lines = ["# Figures", "", *(f"- [{p.name}]({p.name})" for p in paths if p.suffix == ".png")]
    if lacking:
        lines += ["", "## Not drawn: what the runs lack", "", *(f"- {line}" for line in lacking)]
    write_text_atomic(index, "\n".join(lines) + "\n")
    return [*paths, index]
