"""The benchmark's tables (method.md §5, §6, §9): main results per protocol, bargaining / alignment,
comparisons with other aggregators and baselines, paired NBS-vs-one-stage tests, and both protocols
side by side. Each is a :class:`~fairbench.reports.render.Table` written as Markdown, LaTeX and CSV.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fairbench.io import write_text_atomic, write_with_atomic
from fairbench.reports.collect import failed_runs, prefer_experiments
from fairbench.reports.labels import (HIGHER_IS_BETTER, PAPER_METHODS, method_label, method_order, metric_label,
                                      setting_label, setting_order, split_method)
from fairbench.reports.render import SIGNIFICANCE_MARK, Cell, Table, fmt_mean_std, fmt_p, write_table
from fairbench.reports.selection import select_epochs
from fairbench.reports.stats import NBS_PAIRS, paired_tests, summarise

__all__ = [
    "ALIGNMENT_WINDOW", "MAIN_EXPERIMENTS", "MissingInputError", "alignment_table", "comparisons_table",
    "main_table", "paired_tests_table", "protocols_table", "write_tables",
]

log = logging.getLogger(__name__)

#: Experiments whose runs use the reference hyper-parameters (main results and comparisons).
MAIN_EXPERIMENTS: tuple[str, ...] = ("main", "comparisons")
#: The paper's alignment table covers the first 15 epochs (method.md §9).
ALIGNMENT_WINDOW = 15
META_METHODS: tuple[str, ...] = ("ltr", "forml", "meta_gdro", "nbs_ltr", "nbs_forml", "nbs_meta_gdro")
BASE_METRICS: tuple[str, ...] = ("auc", "group_auc_gap", "worst_group_auc")
TEST_METRICS: tuple[str, ...] = ("auc", "group_auc_gap", "worst_group_auc", "score_auc")
SELECTION_NOTES = {
    "test_seed_mean": "the epoch maximising the seed-mean TEST AUC, as in the reference (selected on the "
                      "test set, so optimistic)",
    "val_loss": "per seed, the epoch with the lowest validation meta loss (no test data)",
    "last": "the last epoch",
}


class MissingInputError(ValueError):
    """The runs needed for a table are absent (a table is never written empty)."""


def _metrics_for(protocol: str) -> tuple[str, ...]:
    """Paper metrics; the standard protocol adds the score-based ROC-AUC (method.md §6)."""
    return BASE_METRICS + (("score_auc",) if protocol != "paper" else ())


def _subset(frame: pd.DataFrame, *, protocol: str | None = None, methods: Sequence[str] | None = None,
            experiments: Sequence[str] = MAIN_EXPERIMENTS, what: str = "table") -> pd.DataFrame:
    sub = prefer_experiments(frame, experiments)
    if protocol is not None:
        sub = sub[sub["protocol"] == protocol]
    if methods is not None:
        sub = sub[sub["method"].isin(list(methods))]
    if sub.empty:
        raise MissingInputError(f"no runs for the {what} (protocol={protocol}, experiments={list(experiments)}, "
                                f"methods={list(methods) if methods else 'any'})")
    return sub


def _seed_note(sub: pd.DataFrame) -> str:
    counts = sub.groupby(["setting", "method"])["seed"].nunique()
    lo, hi = int(counts.min()), int(counts.max())
    return f"{lo} seeds" if lo == hi else f"{lo}-{hi} seeds"


def _best_mask(values: pd.Series, higher: bool, digits: int = 3) -> pd.Series:
    """True where the rounded mean is the best of its column (ties all bold)."""
    rounded = values.round(digits)
    if rounded.isna().all():
        return pd.Series(False, index=values.index)
    target = rounded.max() if higher else rounded.min()
    return rounded == target


def _results_table(selected: pd.DataFrame, metrics: Sequence[str], *, name: str, title: str,
                   tests: pd.DataFrame | None, legend_head: list[str]) -> Table:
    """Rows setting x method, one "mean ± std" column per metric, best per setting in bold."""
    summary = summarise(selected, metrics, by=("setting", "method"))
    wide = summary.pivot_table(index=["setting", "method"], columns="metric",
                               values=["mean", "std", "n", "ci_low", "ci_high"], dropna=False)
    marks: set[tuple[str, str, str]] = set()
    if tests is not None and not tests.empty:
        sig = tests[tests["significant"]]
        marks = set(zip(sig["setting"], sig["method"], sig["metric"]))
    rows, records = [], []
    for setting in setting_order(selected["setting"]):
        methods = method_order(selected.loc[selected["setting"] == setting, "method"])
        block = wide.loc[[(setting, m) for m in methods]]
        bold = {m: _best_mask(block[("mean", m)], HIGHER_IS_BETTER.get(m, True)) for m in metrics
                if ("mean", m) in block}
        for method in methods:
            row = [Cell(setting_label(setting)), Cell(method_label(method))]
            record: dict[str, object] = {"setting": setting, "method": method}
            for metric in metrics:
                if ("mean", metric) not in block:
                    row.append(Cell("–"))
                    continue
                stats = {s: float(block.loc[(setting, method), (s, metric)])
                         for s in ("mean", "std", "n", "ci_low", "ci_high")}
                is_bold = bool(bold[metric].loc[(setting, method)])
                mark = SIGNIFICANCE_MARK if (setting, method, metric) in marks else ""
                row.append(Cell(fmt_mean_std(stats["mean"], stats["std"]), bold=is_bold, mark=mark))
                record.update({f"{metric}_{s}": v for s, v in stats.items()})
                record[f"{metric}_best"] = is_bold
                record[f"{metric}_significant"] = bool(mark)
            rows.append(row)
            records.append(record)
    header = ["Setting", "Method", *(metric_label(m) for m in metrics)]
    legend = legend_head + [
        "Bold: best in its setting and column (highest AUC and Worst-gAUC, lowest Max-gAUCD), by the mean "
        "rounded to 3 decimals.",
    ]
    if tests is not None:
        legend.append(f"{SIGNIFICANCE_MARK}: the NBS variant differs from its one-stage counterpart (paired "
                      f"{_test_name(tests)} over seeds, Holm-corrected p < 0.05 within each protocol and metric).")
    return Table(name=name, title=title, header=header, rows=rows, legend=legend, data=pd.DataFrame(records))


def _test_name(tests: pd.DataFrame) -> str:
    kind = tests["test"].iloc[0] if "test" in tests and not tests.empty else "t"
    return "Wilcoxon signed-rank test" if kind == "wilcoxon" else "t-test"


def _rule_note(selected: pd.DataFrame) -> str:
    rules = sorted(selected["selection"].unique())
    return "; ".join(SELECTION_NOTES.get(r, r) for r in rules)


def main_table(selected: pd.DataFrame, protocol: str, *, tests: pd.DataFrame | None = None,
               experiments: Sequence[str] = MAIN_EXPERIMENTS) -> Table:
    """The paper's main table for ``protocol``: setting x the eight paper methods; Overall AUC,
    Max-gAUCD, Worst-gAUC (and Score AUC outside the paper protocol) as mean ± std over seeds."""
    sub = _subset(selected, protocol=protocol, methods=PAPER_METHODS, experiments=experiments, what="main table")
    if tests is not None:
        tests = tests[(tests["protocol"] == protocol) & tests["experiment"].isin(list(experiments))]
    legend = [f"Mean ± std (ddof=1) over {_seed_note(sub)}; epoch: {_rule_note(sub)}."]
    return _results_table(sub, _metrics_for(protocol), name=f"main_{protocol}",
                          title=f"Main results, {protocol} protocol", tests=tests, legend_head=legend)


def comparisons_table(selected: pd.DataFrame, protocol: str | None = None, *,
                      experiments: Sequence[str] = MAIN_EXPERIMENTS) -> Table:
    """Every method present (aggregator x objective, Group DRO, Reweighing, the paper's methods) per
    setting; the standard protocol by default (else the only protocol present)."""
    if protocol is None:
        present = set(selected["protocol"])
        protocol = "standard" if "standard" in present or len(present) != 1 else present.pop()
    sub = _subset(selected, protocol=protocol, experiments=experiments, what="comparisons table")
    legend = [f"Mean ± std (ddof=1) over {_seed_note(sub)}; epoch: {_rule_note(sub)}.",
              "X+Objective: aggregator X in stage 1, then the objective (two-stage).",
              ]
    return _results_table(sub, _metrics_for(protocol), name=f"comparisons_{protocol}",
                          title=f"All methods, {protocol} protocol", tests=None, legend_head=legend)


def _stage1_rows(frame: pd.DataFrame, window: int) -> pd.DataFrame:
    """Epochs where bargaining runs, capped at the first ``window``: ``stage == 1`` for two-stage
    methods, and the same epoch range (1..min(stage1_epochs, window)) for one-stage ones."""
    limit = np.minimum(frame["stage1_epochs"], window)
    in_range = frame["epoch"] <= limit
    two_stage = frame["method"].map(lambda m: split_method(m)[0] is not None).to_numpy()
    stage = frame["stage"] if "stage" in frame else pd.Series(np.nan, index=frame.index)
    return frame[in_range & (~two_stage | (stage == 1))]


def alignment_table(frame: pd.DataFrame, protocol: str, *, window: int = ALIGNMENT_WINDOW,
                    methods: Sequence[str] = META_METHODS, experiments: Sequence[str] = MAIN_EXPERIMENTS) -> Table:
    """Bargaining success in stage 1 (method.md §4, §9): per setting and meta method, the mean over the
    first min(stage-1 epochs, ``window``) epochs of the alignment rate, the applied-weight alignment
    rate, the NBS solvable rate, its complement (failure rate) and the failed batches per epoch;
    mean ± std over seeds. Stage-1 epochs are T - 1 under the paper protocol and T otherwise."""
    sub = _subset(frame, protocol=protocol, methods=methods, experiments=experiments, what="alignment table")
    rows_in = _stage1_rows(sub, window)
    columns = {"alignment_rate": "Alignment rate", "applied_alignment_rate": "Applied alignment",
               "nbs_solvable_rate": "NBS solvable rate", "nbs_failure_rate": "NBS failure rate",
               "nbs_failures": "NBS failures / epoch"}
    rows_in = rows_in.assign(nbs_failure_rate=1.0 - rows_in["nbs_solvable_rate"])
    runs = sub.drop_duplicates("run_dir")[["run_dir", "setting", "method", "seed", "stage1_epochs"]]
    per_run = rows_in.groupby("run_dir")[[c for c in columns if c in rows_in]].mean()
    per_run["window_epochs"] = rows_in.groupby("run_dir")["epoch"].nunique()
    per_run = runs.set_index("run_dir").join(per_run)
    per_run["window_epochs"] = per_run["window_epochs"].fillna(0)
    rows, records = [], []
    for setting in setting_order(per_run["setting"]):
        for method in method_order(per_run.loc[per_run["setting"] == setting, "method"]):
            group = per_run[(per_run["setting"] == setting) & (per_run["method"] == method)]
            epochs = int(group["window_epochs"].max())
            row = [Cell(setting_label(setting)), Cell(method_label(method)), Cell(str(epochs))]
            record: dict[str, object] = {"setting": setting, "method": method, "window_epochs": epochs,
                                         "n_seeds": int(group["seed"].nunique())}
            for column in columns:
                values = group[column] if column in group else pd.Series(dtype=float)
                mean = float(values.mean()) if values.notna().any() else float("nan")
                std = float(values.std(ddof=1)) if values.notna().sum() > 1 else float("nan")
                row.append(Cell(fmt_mean_std(mean, std)))
                record.update({f"{column}_mean": mean, f"{column}_std": std})
            rows.append(row)
            records.append(record)
    legend = [f"Per run, the mean over the first min(stage-1 epochs, {window}) epochs (column 'Epochs'): epochs "
              "with stage = 1 for NBS and other two-stage methods, the same range for one-stage ones; then "
              f"mean ± std (ddof=1) over {_seed_note(sub)}.",
              "Alignment: share of batches whose direction improves every cell to first order (d · g_c > 0 "
              "for every cell c); applied: the same test on the clipped, normalised weights.",
              "NBS solvable: share of batches where a Nash bargaining solution exists (failure rate = 1 - "
              "solvable); for one-stage methods a probe solver checks the same batches."]
    return Table(name=f"alignment_{protocol}", title=f"Bargaining success in stage 1, {protocol} protocol",
                 header=["Setting", "Method", "Epochs", *columns.values()], rows=rows, legend=legend,
                 data=pd.DataFrame(records))


def _experiment_label(row: pd.Series) -> str:
    """``main``; ablations also name their T and validation rows per cell (k)."""
    if row["experiment"] in MAIN_EXPERIMENTS:
        return str(row["experiment"])
    T = "all" if row["bargain_epochs"] >= 1000 else str(int(row["bargain_epochs"]))  # T beyond any run length
    return f"{row['experiment']} (T={T}, k={int(row['val_per_cell'])})"


def paired_tests_table(tests: pd.DataFrame) -> Table:
    """Raw and Holm-corrected p-values of every NBS-vs-one-stage paired test (all experiments)."""
    if tests.empty:
        raise MissingInputError("no paired tests: need an NBS variant and its one-stage counterpart "
                                f"({', '.join(f'{a}/{b}' for a, b in NBS_PAIRS.items())}) in one setting")
    order = {m: i for i, m in enumerate(NBS_PAIRS)}
    settings = {s: i for i, s in enumerate(setting_order(tests["setting"]))}
    data = tests.assign(_e=tests["experiment"].map(lambda e: (e not in MAIN_EXPERIMENTS, e)),
                        _s=tests["setting"].map(settings), _m=tests["method"].map(order))
    data = data.sort_values(["_e", "bargain_epochs", "val_per_cell", "protocol", "metric", "_s", "_m"])
    data = data.drop(columns=["_e", "_s", "_m"]).reset_index(drop=True)
    rows = []
    for _, r in data.iterrows():
        rows.append([Cell(_experiment_label(r)), Cell(str(r["protocol"])), Cell(metric_label(r["metric"])),
                     Cell(setting_label(r["setting"])),
                     Cell(f"{method_label(r['method'])} vs {method_label(r['baseline'])}"), Cell(str(int(r["n"]))),
                     Cell("–" if np.isnan(r["mean_diff"]) else f"{r['mean_diff']:+.4f}"), Cell(fmt_p(r["p_value"])),
                     Cell(fmt_p(r["p_holm"]), bold=bool(r["significant"]),
                          mark=SIGNIFICANCE_MARK if r["significant"] else ""),
                     Cell(str(r["note"]))])
    legend = [f"Paired {_test_name(data)} over seeds (paired by seed); difference = NBS variant - one-stage.",
              "Holm-Bonferroni correction within each (experiment, protocol, metric) family; "
              f"{SIGNIFICANCE_MARK} and bold: corrected p < 0.05. '–': no test (see note)."]
    return Table(name="paired_tests", title="NBS variants vs their one-stage counterparts",
                 header=["Experiment", "Protocol", "Metric", "Setting", "Comparison", "n", "Mean diff.", "p",
                         "p (Holm)", "Note"],
                 rows=rows, legend=legend, data=data, align="llllcccccl")


def protocols_table(selected: pd.DataFrame, *, experiments: Sequence[str] = MAIN_EXPERIMENTS,
                    protocols: tuple[str, str] = ("paper", "standard")) -> Table:
    """The paper methods under both protocols side by side (method.md §6): what the paper's choices change."""
    sub = _subset(selected, methods=PAPER_METHODS, experiments=experiments, what="protocols table")
    missing = [p for p in protocols if p not in set(sub["protocol"])]
    if missing:
        raise MissingInputError(f"protocols table needs runs of both protocols; missing: {', '.join(missing)}")
    sub = sub[sub["protocol"].isin(protocols)]
    summary = summarise(sub, BASE_METRICS, by=("setting", "method", "protocol"))
    rows, records = [], []
    for setting in setting_order(sub["setting"]):
        for method in method_order(sub.loc[sub["setting"] == setting, "method"]):
            row = [Cell(setting_label(setting)), Cell(method_label(method))]
            record: dict[str, object] = {"setting": setting, "method": method}
            for metric in BASE_METRICS:
                for protocol in protocols:
                    hit = summary[(summary["setting"] == setting) & (summary["method"] == method)
                                  & (summary["protocol"] == protocol) & (summary["metric"] == metric)]
                    mean, std = ((float(hit["mean"].iloc[0]), float(hit["std"].iloc[0])) if len(hit)
                                 else (np.nan, np.nan))
                    row.append(Cell(fmt_mean_std(mean, std)))
                    record.update({f"{metric}_{protocol}_mean": mean, f"{metric}_{protocol}_std": std})
            rows.append(row)
            records.append(record)
    header = ["Setting", "Method"] + [f"{metric_label(m)} ({p})" for m in BASE_METRICS for p in protocols]
    notes = {p: _rule_note(sub[sub["protocol"] == p]) for p in protocols}
    legend = [f"Mean ± std (ddof=1) over seeds. Epoch: {p}: {n}." for p, n in notes.items()]
    legend.append("The paper protocol uses the reference split, hard-label AUC, a scaler fit on all rows and "
                  "test-set epoch selection; the standard protocol fixes these (method.md §5-6).")
    return Table(name="protocols", title="Paper vs standard protocol", header=header, rows=rows, legend=legend,
                 data=pd.DataFrame(records))


def write_tables(frame: pd.DataFrame, out_dir: str | Path, *, selection: str | None = None, test: str = "t",
                 experiments: Sequence[str] = MAIN_EXPERIMENTS) -> list[Path]:
    """Select epochs, run the paired tests and write every table that the runs support to ``out_dir``.

    ``frame`` is :func:`~fairbench.reports.collect.collect_runs`'s output; ``selection=None`` uses each
    protocol's own rule. Also writes ``summary.csv`` (all metrics, all groups), ``failed_runs.csv``
    and ``index.md`` (what was written, what was skipped and why). Returns the written paths.
    """
    if frame.empty:
        raise ValueError("no runs: nothing to tabulate")
    out = Path(out_dir)
    selected = select_epochs(frame, selection)
    metrics = [m for m in TEST_METRICS if m in selected.columns]
    tests = paired_tests(selected, metrics, test=test)
    paths: list[Path] = []
    written, skipped = [], []

    def attempt(label: str, build) -> None:  # noqa: ANN001
        try:
            table = build()
        except MissingInputError as error:
            skipped.append(f"{label}: {error}")
            log.info("skipped %s: %s", label, error)
            return
        paths.extend(write_table(table, out))
        written.append(f"{table.name}: {table.title}")

    for protocol in sorted(selected["protocol"].unique()):
        attempt(f"main_{protocol}", lambda p=protocol: main_table(selected, p, tests=tests, experiments=experiments))
        attempt(f"alignment_{protocol}", lambda p=protocol: alignment_table(frame, p, experiments=experiments))
    attempt("comparisons", lambda: comparisons_table(selected, experiments=experiments))
    attempt("paired_tests", lambda: paired_tests_table(tests))
    attempt("protocols", lambda: protocols_table(selected, experiments=experiments))
    summary = summarise(selected, [m for m in selected.columns if m in HIGHER_IS_BETTER])
    failed = failed_runs(frame)
    for name, data in (("summary.csv", summary), ("failed_runs.csv", failed)):
        write_with_atomic(out / name, lambda tmp, d=data: d.to_csv(tmp, index=False, float_format="%.6g"))
        paths.append(out / name)
    index = ["# Tables", "", *(f"- {w}" for w in written)]
    if skipped:
        index += ["", "## Skipped", "", *(f"- {s}" for s in skipped)]
    index += ["", f"## Failed or unfinished runs (excluded): {len(failed)}", ""]
    index += [f"- {r.run_dir}: {r.protocol} {r.setting} {r.method} seed {r.seed} ({r.status}: {r.error})"
              for r in failed.itertuples()]
    write_text_atomic(out / "index.md", "\n".join(index) + "\n")
    paths.append(out / "index.md")
    return paths
