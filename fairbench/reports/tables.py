"""The benchmark's tables (docs/protocols.md, docs/method.md §7): main results per protocol, bargaining / alignment,
comparisons with other aggregators and baselines, paired NBS-vs-one-stage tests, and both protocols
side by side. Each is a :class:`~fairbench.reports.render.Table` written as Markdown, LaTeX and CSV.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fairbench.io import write_text_atomic, write_with_atomic
from fairbench.reports.bootstrap import CI_KINDS, CellCounts, load_selected_counts
from fairbench.reports.collect import CONFIG_KEYS, failed_runs
from fairbench.reports.degenerate import DEGENERATE_MARK, degenerate_counts, flag_degenerate
from fairbench.reports.labels import (HIGHER_IS_BETTER, NBS_PAIRS, PAPER_METHODS, main_methods, meta_methods,
                                      method_label, method_order, metric_label, setting_label, setting_order,
                                      split_method)
from fairbench.reports.render import SIGNIFICANCE_MARK, Cell, Table, fmt_p, fmt_signed, write_table
from fairbench.reports.seed_count import FEW_SEEDS, ci_widths_by_seeds, seed_count_table
from fairbench.reports.selection import select_epochs
from fairbench.reports.sweeps import (CHOSEN_COLUMN, CRITERION, SWEEP_RULE, Sweeps, find_sweeps, lambda_text,
                                      prefer_chosen)
from fairbench.reports.stats import (GROUP_KEYS, POI_METRICS, bootstrap_summary, describe, improvement_probabilities,
                                     paired_tests)

__all__ = [
    "ALIGNMENT_WINDOW", "MAIN_EXPERIMENTS", "MissingInputError", "SEED_ONLY_MARK", "is_ablation",
    "reference_experiments", "alignment_table", "comparisons_table",
    "degenerate_table", "fmt_mean_ci", "improvement_table", "main_table", "paired_tests_table", "protocols_table",
    "sweep_table", "widths_table", "write_tables",
]

log = logging.getLogger(__name__)

#: The benchmark's own experiments with the reference hyper-parameters (main results and comparisons); any
#: other experiment that is not an ablation counts with them (:func:`reference_experiments`).
MAIN_EXPERIMENTS: tuple[str, ...] = ("main", "comparisons")
#: An experiment named ``ablation...`` (``ablation_T``, ``ablation_val``) varies T or the validation rows.
ABLATION_PREFIX = "ablation"
#: The paper's alignment table covers the first 15 epochs (docs/method.md §7).
ALIGNMENT_WINDOW = 15
#: Row mark: the row's intervals resample seeds only (its runs have no predictions.npz).
SEED_ONLY_MARK = "§"
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


def is_ablation(experiment: str) -> bool:
    """Ablations (``ablation_T``, ``ablation_val``, any ``ablation...``) vary T or validation rows per cell."""
    return str(experiment).startswith(ABLATION_PREFIX)


def reference_experiments(frame: pd.DataFrame) -> tuple[str, ...]:
    """``main``, ``comparisons``, then every other experiment of ``frame`` that is not an ablation
    (alphabetically): the experiments the main, comparisons and other tables and figures read, in
    :func:`~fairbench.reports.collect.prefer_experiments` order. Any experiment name works."""
    others = sorted({str(e) for e in frame["experiment"]} - set(MAIN_EXPERIMENTS))
    return (*MAIN_EXPERIMENTS, *(e for e in others if not is_ablation(e)))


def _main_methods_of(frame: pd.DataFrame, experiments: Sequence[str]) -> list[str]:
    """The paper's methods and every method of a reference experiment other than ``comparisons``."""
    own = frame["experiment"].isin([e for e in experiments if e != "comparisons"])
    return main_methods(frame.loc[own, "method"])


def _metrics_for(protocol: str) -> tuple[str, ...]:
    """Paper metrics; the standard protocol adds the score-based ROC-AUC (docs/protocols.md §1)."""
    return BASE_METRICS + (("score_auc",) if protocol != "paper" else ())


def _subset(frame: pd.DataFrame, *, protocol: str | None = None, methods: Sequence[str] | None = None,
            experiments: Sequence[str] | None = None, what: str = "table") -> pd.DataFrame:
    experiments = reference_experiments(frame) if experiments is None else experiments
    sub = prefer_chosen(frame, experiments)
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
    """True where the rounded mean is the best of its column (ties all bold), only when at least two
    values compete (NaN = not eligible) and one of them is worse: a lone row, or rows that all tie, are
    never bold, so the worse value of a column is never bold."""
    rounded = values.round(digits)
    competing = rounded.dropna()
    if competing.nunique() < 2:
        return pd.Series(False, index=values.index)
    target = competing.max() if higher else competing.min()
    return rounded == target


def fmt_mean_ci(mean: float, low: float, high: float, digits: int = 3) -> str:
    """``"0.812 [0.790, 0.830]"``; ``"0.812 [–]"`` without an interval; ``"–"`` without a value."""
    if mean is None or np.isnan(mean):
        return "–"
    if low is None or high is None or np.isnan(low) or np.isnan(high):
        return f"{mean:.{digits}f} [–]"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _evidence(selected: pd.DataFrame, counts: Mapping[str, CellCounts] | None) -> tuple[pd.DataFrame, dict]:
    """``selected`` with the degenerate flags (computed unless present) and the cell counts (loaded from
    each run's predictions.npz unless given)."""
    counts = load_selected_counts(selected) if counts is None else dict(counts)
    flagged = selected if "degenerate" in selected.columns else flag_degenerate(selected, counts)
    return flagged, counts


def _degenerate_lookup(flagged: pd.DataFrame | None, by: Sequence[str]) -> dict[tuple, tuple[int, int]]:
    """(values of ``by``) -> (degenerate runs, runs) for groups with a degenerate run; empty without flags."""
    if flagged is None or "degenerate" not in flagged.columns or flagged.empty:
        return {}
    counts = degenerate_counts(flagged, by=by)
    return {tuple(r[k] for k in by): (int(r["n_degenerate"]), int(r["n_runs"]))
            for r in counts.to_dict("records") if r["n_degenerate"]}


def _marked(label: str, found: tuple[int, int] | None) -> str:
    """``"ERM ‡ 3/5"`` when ``found`` = (3, 5) degenerate runs, else the label."""
    return f"{label} {DEGENERATE_MARK} {found[0]}/{found[1]}" if found else label


def _seed_only_rows(summary: pd.DataFrame) -> set[tuple[str, str]]:
    """(setting, method) rows whose intervals resample seeds only, when the table mixes both kinds (when
    every row is seed-only the legend says so once); score metrics (seeds only by nature) do not count."""
    kinds = summary[summary["ci_kind"] != CI_KINDS["scores"]].drop_duplicates(["setting", "method", "ci_kind"])
    seed_only = kinds[kinds["ci_kind"] == CI_KINDS["seeds"]]
    if seed_only.empty or len(seed_only) == len(kinds):
        return set()
    return set(zip(seed_only["setting"], seed_only["method"]))


def _ci_legend(summary: pd.DataFrame) -> str:
    """What the intervals hold (docs/protocols.md §4): a t-interval of the seed mean, plus the shared test
    set's row variance where every seed scored one test set; when the kinds are mixed, the rows whose runs
    lack predictions.npz carry :data:`SEED_ONLY_MARK` (one mark per row, not a list of configurations)."""
    present = set(summary["ci_kind"])
    parts = ["[95 % CI]: t-interval of the seed mean (n - 1 degrees of freedom)"]
    if CI_KINDS["rows"] in present:
        parts.append("where every seed scored one shared test set, the test set's row variance (a bootstrap "
                     "of its rows within (group, label) cells, seeds fixed) is added to the seed variance")
    if CI_KINDS["own"] in present:
        parts.append("where each seed drew its own test set, the seed spread already holds the test-set "
                     "noise and nothing is added")
    kinds = summary[summary["ci_kind"] != CI_KINDS["scores"]].drop_duplicates(["setting", "method", "ci_kind"])
    seed_only = kinds[kinds["ci_kind"] == CI_KINDS["seeds"]]
    if not seed_only.empty:
        who = "every row" if len(seed_only) == len(kinds) else f"{SEED_ONLY_MARK}"
        parts.append(f"{who}: seeds only (the runs have no predictions.npz, so a shared test set's row noise "
                     "is not included)")
    text = "; ".join(parts) + "."
    if CI_KINDS["scores"] in present:
        text += " Score AUC: seeds only (it ranks the scores; predictions.npz holds the hard labels)."
    return text


def _degenerate_legend(flagged: pd.DataFrame) -> str:
    untested = int((~flagged.drop_duplicates("run_dir")["chance_tested"].astype(bool)).sum())
    text = (f"{DEGENERATE_MARK} k/n: k of the n seeds are degenerate at the selected epoch (one class predicted "
            "for every test row, or the run's 95 % row-bootstrap interval of AUC contains 0.5); such rows are "
            "never bold.")
    if untested:
        text += f" {untested} run(s) without predictions.npz were checked for constant predictions only."
    return text


def _results_table(selected: pd.DataFrame, metrics: Sequence[str], *, name: str, title: str,
                   tests: pd.DataFrame | None, legend_head: list[str],
                   counts: Mapping[str, CellCounts] | None = None) -> Table:
    """Rows setting x method, one "mean [95 % CI]" column per metric, best per setting in bold; methods
    with degenerate seeds are marked and never bold."""
    flagged, counts = _evidence(selected, counts)
    summary = bootstrap_summary(flagged, metrics, counts, by=("setting", "method"))
    wide = summary.pivot_table(index=["setting", "method"], columns="metric",
                               values=["mean", "std", "n", "ci_low", "ci_high"], dropna=False)
    degenerate = degenerate_counts(flagged, by=("setting", "method")).set_index(["setting", "method"])
    marks: set[tuple[str, str, str]] = set()
    if tests is not None and not tests.empty:
        sig = tests[tests["significant"]]
        marks = set(zip(sig["setting"], sig["method"], sig["metric"]))
    seed_only = _seed_only_rows(summary)
    swept = _chosen_lambdas(flagged)
    rows, records = [], []
    for setting in setting_order(flagged["setting"]):
        methods = method_order(flagged.loc[flagged["setting"] == setting, "method"])
        block = wide.loc[[(setting, m) for m in methods]]
        eligible = pd.Series([degenerate.loc[(setting, m), "n_degenerate"] == 0 for m in methods], index=block.index)
        bold = {m: _best_mask(block[("mean", m)].where(eligible), HIGHER_IS_BETTER.get(m, True)) for m in metrics
                if ("mean", m) in block}
        for method in methods:
            n_deg = int(degenerate.loc[(setting, method), "n_degenerate"])
            n_runs = int(degenerate.loc[(setting, method), "n_runs"])
            lam = swept.get((setting, method))
            label = method_label(method) + (f" (λ = {lambda_text(lam)})" if lam is not None else "")
            label += f" {DEGENERATE_MARK} {n_deg}/{n_runs}" if n_deg else ""
            label += f" {SEED_ONLY_MARK}" if (setting, method) in seed_only else ""
            row = [Cell(setting_label(setting)), Cell(label), Cell(str(n_runs))]
            record: dict[str, object] = {"setting": setting, "method": method, "n_degenerate": n_deg,
                                         "n_runs": n_runs}
            if swept:
                record["fair_lambda"] = lam if lam is not None else float("nan")
            for metric in metrics:
                if ("mean", metric) not in block:
                    row.append(Cell("–"))
                    continue
                stats = {s: float(block.loc[(setting, method), (s, metric)])
                         for s in ("mean", "std", "n", "ci_low", "ci_high")}
                is_bold = bool(bold[metric].loc[(setting, method)])
                mark = SIGNIFICANCE_MARK if (setting, method, metric) in marks else ""
                row.append(Cell(fmt_mean_ci(stats["mean"], stats["ci_low"], stats["ci_high"]), bold=is_bold,
                                mark=mark))
                record.update({f"{metric}_{s}": v for s, v in stats.items()})
                record[f"{metric}_best"] = is_bold
                record[f"{metric}_significant"] = bool(mark)
            kinds = summary[(summary["setting"] == setting) & (summary["method"] == method)]["ci_kind"]
            record["ci_kind"] = "; ".join(sorted(set(kinds)))
            rows.append(row)
            records.append(record)
    header = ["Setting", "Method", "n", *(metric_label(m) for m in metrics)]
    legend = legend_head + [
        "n: seeds (runs) of the row.",
        _ci_legend(summary),
        "Bold: best in its setting and column (highest AUC and Worst-gAUC, lowest Max-gAUCD), by the mean "
        "rounded to 3 decimals, among methods without degenerate seeds; only where at least two such methods "
        "compete and one is worse (a lone eligible row, or rows that all tie, are not bold).",
        _degenerate_legend(flagged),
    ]
    if swept:
        pages = ", ".join(f"[sweep_{p}](sweep_{p}.md)" for p in sorted(flagged["protocol"].unique()))
        legend.append(f"(λ = x): a regulariser's lambda sweep, reported at its chosen point: {SWEEP_RULE}; every "
                      f"point of the sweep is in {pages}.")
    if tests is not None:
        legend.append(f"{SIGNIFICANCE_MARK}: the NBS variant differs from its one-stage counterpart (paired "
                      f"{_test_name(tests)} over seeds, Holm-corrected p < 0.05 within each protocol and metric).")
    return Table(name=name, title=title, header=header, rows=rows, legend=legend, data=pd.DataFrame(records))


def _chosen_lambdas(runs: pd.DataFrame) -> dict[tuple[str, str], float]:
    """(setting, method) -> the chosen lambda, for the rows that are a sweep's chosen point."""
    if CHOSEN_COLUMN not in runs.columns:
        return {}
    chosen = runs[runs[CHOSEN_COLUMN].astype(bool)].drop_duplicates(["setting", "method"])
    return {(r.setting, r.method): float(r.fair_lambda) for r in chosen.itertuples()}


def _test_name(tests: pd.DataFrame) -> str:
    kind = tests["test"].iloc[0] if "test" in tests and not tests.empty else "t"
    return "Wilcoxon signed-rank test" if kind == "wilcoxon" else "t-test"


def _rule_note(selected: pd.DataFrame) -> str:
    rules = sorted(selected["selection"].unique())
    return "; ".join(SELECTION_NOTES.get(r, r) for r in rules)


def main_table(selected: pd.DataFrame, protocol: str, *, tests: pd.DataFrame | None = None,
               experiments: Sequence[str] | None = None, counts: Mapping[str, CellCounts] | None = None) -> Table:
    """The paper's main table for ``protocol``: setting x the paper's methods and every method of a
    reference experiment other than ``comparisons`` (:func:`reference_experiments`); Overall AUC,
    Max-gAUCD, Worst-gAUC (and Score AUC outside the paper protocol) as the seed mean with its 95 %
    bootstrap interval. ``counts`` (run_dir -> cell counts) default to each run's predictions.npz."""
    experiments = reference_experiments(selected) if experiments is None else experiments
    methods = _main_methods_of(selected, experiments)
    sub = _subset(selected, protocol=protocol, methods=methods, experiments=experiments, what="main table")
    if tests is not None:
        tests = tests[(tests["protocol"] == protocol) & tests["experiment"].isin(list(experiments))]
    legend = [f"Mean [95 % CI] over {_seed_note(sub)} (std, ddof=1, in the CSV); epoch: {_rule_note(sub)}."]
    return _results_table(sub, _metrics_for(protocol), name=f"main_{protocol}",
                          title=f"Main results, {protocol} protocol", tests=tests, legend_head=legend, counts=counts)


def comparisons_table(selected: pd.DataFrame, protocol: str | None = None, *,
                      experiments: Sequence[str] | None = None,
                      counts: Mapping[str, CellCounts] | None = None) -> Table:
    """Every method present (aggregator x objective, Group DRO, Reweighing, the paper's methods) per
    setting; the standard protocol by default (else the only protocol present)."""
    if protocol is None:
        present = set(selected["protocol"])
        protocol = "standard" if "standard" in present or len(present) != 1 else present.pop()
    sub = _subset(selected, protocol=protocol, experiments=experiments, what="comparisons table")
    legend = [f"Mean [95 % CI] over {_seed_note(sub)} (std, ddof=1, in the CSV); epoch: {_rule_note(sub)}.",
              "X+Objective: aggregator X in stage 1, then the objective (two-stage).",
              ]
    return _results_table(sub, _metrics_for(protocol), name=f"comparisons_{protocol}",
                          title=f"All methods, {protocol} protocol", tests=None, legend_head=legend, counts=counts)


def _stage1_rows(frame: pd.DataFrame, window: int) -> pd.DataFrame:
    """Epochs where bargaining runs, capped at the first ``window``: ``stage == 1`` for two-stage
    methods, and the same epoch range (1..min(stage1_epochs, window)) for one-stage ones."""
    limit = np.minimum(frame["stage1_epochs"], window)
    in_range = frame["epoch"] <= limit
    two_stage = frame["method"].map(lambda m: split_method(m)[0] is not None).to_numpy()
    stage = frame["stage"] if "stage" in frame else pd.Series(np.nan, index=frame.index)
    return frame[in_range & (~two_stage | (stage == 1))]


def alignment_table(frame: pd.DataFrame, protocol: str, *, window: int = ALIGNMENT_WINDOW,
                    methods: Sequence[str] | None = None, experiments: Sequence[str] | None = None,
                    flagged: pd.DataFrame | None = None) -> Table:
    """Bargaining success in stage 1 (docs/method.md §4, §7): per setting and meta method, the mean over the
    first min(stage-1 epochs, ``window``) epochs of the alignment rate, the applied-weight alignment
    rate, the NBS solvable rate, its complement (failure rate) and the failed batches per epoch;
    mean ± std over seeds. Stage-1 epochs are T - 1 under the paper protocol and T otherwise."""
    methods = meta_methods() if methods is None else methods
    experiments = reference_experiments(frame) if experiments is None else experiments
    sub = _subset(frame, protocol=protocol, methods=methods, experiments=experiments, what="alignment table")
    rows_in = _stage1_rows(sub, window)
    degenerate = _degenerate_lookup(
        None if flagged is None else _subset(flagged, protocol=protocol, methods=methods, experiments=experiments),
        ("setting", "method"))
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
            row = [Cell(setting_label(setting)), Cell(_marked(method_label(method), degenerate.get((setting, method)))),
                   Cell(str(epochs))]
            record: dict[str, object] = {"setting": setting, "method": method, "window_epochs": epochs,
                                         "n_seeds": int(group["seed"].nunique())}
            for column in columns:
                values = group[column] if column in group else pd.Series(dtype=float)
                mean = float(values.mean()) if values.notna().any() else float("nan")
                std = float(values.std(ddof=1)) if values.notna().sum() > 1 else float("nan")
                summary_of = describe(values.to_numpy(dtype=float))
                low, high = summary_of["ci_low"], summary_of["ci_high"]
                row.append(Cell(fmt_mean_ci(mean, low, high)))
                record.update({f"{column}_mean": mean, f"{column}_std": std, f"{column}_ci_low": low,
                               f"{column}_ci_high": high})
            rows.append(row)
            records.append(record)
    legend = [f"Per run, the mean over the first min(stage-1 epochs, {window}) epochs (column 'Epochs'): epochs "
              "with stage = 1 for NBS and other two-stage methods, the same range for one-stage ones; then "
              f"mean [95 % CI: bootstrap over seeds] over {_seed_note(sub)} (std, ddof=1, in the CSV).",
              "Alignment: share of batches whose direction improves every cell to first order (d · g_c > 0 "
              "for every cell c); applied: the same test on the clipped, normalised weights.",
              "NBS solvable: share of batches where a Nash bargaining solution exists (failure rate = 1 - "
              "solvable); for one-stage methods a probe solver checks the same batches."]
    if degenerate:
        legend.append(f"{DEGENERATE_MARK} k/n: k of the n seeds are degenerate at the selected epoch (see "
                      "degenerate_runs).")
    return Table(name=f"alignment_{protocol}", title=f"Bargaining success in stage 1, {protocol} protocol",
                 header=["Setting", "Method", "Epochs", *columns.values()], rows=rows, legend=legend,
                 data=pd.DataFrame(records))


def _experiment_label(row: pd.Series) -> str:
    """``main``; ablations also name their T and validation rows per cell (k)."""
    if not is_ablation(row["experiment"]):
        return str(row["experiment"])
    T = "all" if row["bargain_epochs"] >= 1000 else str(int(row["bargain_epochs"]))  # T beyond any run length
    return f"{row['experiment']} (T={T}, k={int(row['val_per_cell'])})"


def _pair_label(r: pd.Series | tuple, degenerate: dict[tuple, tuple[int, int]]) -> str:
    """``"NBS+LtR vs LtR ‡ 2/5"``: the comparison with each side's degenerate count."""
    values = r._asdict() if hasattr(r, "_asdict") else dict(r)
    key = tuple(values[k] for k in GROUP_KEYS if k != "method")
    sides = [_marked(method_label(values[m]), degenerate.get((*key[:3], values[m], *key[3:])))
             for m in ("method", "baseline")]
    return " vs ".join(sides)


def paired_tests_table(tests: pd.DataFrame, *, flagged: pd.DataFrame | None = None) -> Table:
    """Raw and Holm-corrected p-values of every NBS-vs-one-stage paired test (all experiments); with
    ``flagged`` (selected runs with degenerate flags) each side names its degenerate seeds."""
    if tests.empty:
        raise MissingInputError("no paired tests: need an NBS variant and its one-stage counterpart "
                                f"({', '.join(f'{a}/{b}' for a, b in NBS_PAIRS.items())}) in one setting")
    order = {m: i for i, m in enumerate(NBS_PAIRS)}
    settings = {s: i for i, s in enumerate(setting_order(tests["setting"]))}
    data = tests.assign(_e=tests["experiment"].map(lambda e: (is_ablation(e), e not in MAIN_EXPERIMENTS, e)),
                        _s=tests["setting"].map(settings), _m=tests["method"].map(order))
    data = data.sort_values(["_e", "bargain_epochs", "val_per_cell", "protocol", "metric", "_s", "_m"])
    data = data.drop(columns=["_e", "_s", "_m"]).reset_index(drop=True)
    degenerate = _degenerate_lookup(flagged, GROUP_KEYS)
    rows = []
    for _, r in data.iterrows():
        rows.append([Cell(_experiment_label(r)), Cell(str(r["protocol"])), Cell(metric_label(r["metric"])),
                     Cell(setting_label(r["setting"])),
                     Cell(_pair_label(r, degenerate)), Cell(str(int(r["n"]))),
                     Cell(fmt_signed(r["mean_diff"], 4)), Cell(fmt_p(r["p_value"])),
                     Cell(fmt_p(r["p_holm"]), bold=bool(r["significant"]),
                          mark=SIGNIFICANCE_MARK if r["significant"] else ""),
                     Cell(str(r["note"]))])
    legend = [f"Paired {_test_name(data)} over seeds (paired by seed); difference = NBS variant - one-stage.",
              "Holm-Bonferroni correction within each (experiment, protocol, metric) family; "
              f"{SIGNIFICANCE_MARK} and bold: corrected p < 0.05. '–': no test (see note)."]
    if degenerate:
        legend.append(f"{DEGENERATE_MARK} k/n: k of that method's n seeds are degenerate at the selected epoch "
                      "(see degenerate_runs).")
    return Table(name="paired_tests", title="NBS variants vs their one-stage counterparts",
                 header=["Experiment", "Protocol", "Metric", "Setting", "Comparison", "n", "Mean diff.", "p",
                         "p (Holm)", "Note"],
                 rows=rows, legend=legend, data=data, align="llllcccccl")


def protocols_table(selected: pd.DataFrame, *, experiments: Sequence[str] | None = None,
                    protocols: tuple[str, str] = ("paper", "standard"),
                    counts: Mapping[str, CellCounts] | None = None) -> Table:
    """The paper methods under both protocols side by side (docs/protocols.md): what the paper's choices change."""
    sub = _subset(selected, methods=PAPER_METHODS, experiments=experiments, what="protocols table")
    missing = [p for p in protocols if p not in set(sub["protocol"])]
    if missing:
        raise MissingInputError(f"protocols table needs runs of both protocols; missing: {', '.join(missing)}")
    sub = sub[sub["protocol"].isin(protocols)]
    sub, counts = _evidence(sub, counts)
    summary = bootstrap_summary(sub, BASE_METRICS, counts, by=("setting", "method", "protocol"))
    degenerate = degenerate_counts(sub, by=("setting", "method", "protocol")).set_index(["setting", "method",
                                                                                         "protocol"])
    seed_only = _seed_only_rows(summary)
    rows, records = [], []
    for setting in setting_order(sub["setting"]):
        for method in method_order(sub.loc[sub["setting"] == setting, "method"]):
            mark = f" {SEED_ONLY_MARK}" if (setting, method) in seed_only else ""
            row = [Cell(setting_label(setting)), Cell(method_label(method) + mark)]
            record: dict[str, object] = {"setting": setting, "method": method}
            for metric in BASE_METRICS:
                for protocol in protocols:
                    hit = summary[(summary["setting"] == setting) & (summary["method"] == method)
                                  & (summary["protocol"] == protocol) & (summary["metric"] == metric)]
                    stats = ({k: float(hit[k].iloc[0]) for k in ("mean", "std", "ci_low", "ci_high")} if len(hit)
                             else dict.fromkeys(("mean", "std", "ci_low", "ci_high"), np.nan))
                    key = (setting, method, protocol)
                    n_deg = int(degenerate.loc[key, "n_degenerate"]) if key in degenerate.index else 0
                    n_runs = int(degenerate.loc[key, "n_runs"]) if key in degenerate.index else 0
                    text = fmt_mean_ci(stats["mean"], stats["ci_low"], stats["ci_high"])
                    row.append(Cell(text + (f" {DEGENERATE_MARK} {n_deg}/{n_runs}" if n_deg else "")))
                    record.update({f"{metric}_{protocol}_{k}": v for k, v in stats.items()})
                    record[f"n_degenerate_{protocol}"] = n_deg
            rows.append(row)
            records.append(record)
    header = ["Setting", "Method"] + [f"{metric_label(m)} ({p})" for m in BASE_METRICS for p in protocols]
    notes = {p: _rule_note(sub[sub["protocol"] == p]) for p in protocols}
    legend = [f"Mean [95 % CI] over seeds (std in the CSV). Epoch: {p}: {n}." for p, n in notes.items()]
    legend += [_ci_legend(summary), _degenerate_legend(sub)]
    legend.append("The paper protocol uses the reference split, hard-label AUC, a scaler fit on all rows and "
                  "test-set epoch selection; the standard protocol fixes these (docs/protocols.md).")
    return Table(name="protocols", title="Paper vs standard protocol", header=header, rows=rows, legend=legend,
                 data=pd.DataFrame(records))


def degenerate_table(selected: pd.DataFrame, *, experiments: Sequence[str] | None = None,
                     counts: Mapping[str, CellCounts] | None = None) -> Table:
    """Per (protocol, setting, method): runs, degenerate runs at the selected epoch, of which constant
    predictors and at-chance ones, and runs whose chance test could not run (no predictions.npz)."""
    sub = _subset(selected, experiments=experiments, what="degenerate-runs table")
    flagged, _ = _evidence(sub, counts)
    data = degenerate_counts(flagged)
    order = {p: i for i, p in enumerate(sorted(data["protocol"].unique()))}
    rows, records = [], []
    for protocol in order:
        here = data[data["protocol"] == protocol]
        for setting in setting_order(here["setting"]):
            block = here[here["setting"] == setting].set_index("method")
            for method in method_order(block.index):
                r = block.loc[method]
                cells = [Cell(protocol), Cell(setting_label(setting)), Cell(method_label(method))]
                cells += [Cell(str(int(r[c]))) for c in ("n_runs", "n_degenerate", "n_constant", "n_chance",
                                                         "n_untested")]
                cells[4] = Cell(cells[4].text, bold=bool(r["n_degenerate"]),
                                mark=DEGENERATE_MARK if r["n_degenerate"] else "")
                rows.append(cells)
                records.append({"protocol": protocol, "setting": setting, "method": method, **r.to_dict()})
    legend = [f"Epoch: {_rule_note(flagged)}.",
              "Degenerate: one class predicted for every test row (constant), or the run's 95 % bootstrap "
              "interval of the hard-label AUC (test rows resampled within (group, label) cells) contains 0.5 "
              "(chance).",
              "Untested: runs without predictions.npz, checked for constant predictions only (from their "
              "per-group TPR and FPR)."]
    return Table(name="degenerate_runs", title="Degenerate runs per setting and method", group_column=0,
                 header=["Protocol", "Setting", "Method", "Runs", "Degenerate", "Constant", "Chance", "Untested"],
                 rows=rows, legend=legend, data=pd.DataFrame(records), align="lllccccc")


def improvement_table(poi: pd.DataFrame, *, experiments: Sequence[str] | None = None,
                      flagged: pd.DataFrame | None = None) -> Table:
    """P(NBS variant better than its one-stage counterpart) with 95 % bootstrap intervals, per setting and
    aggregated over settings (Agarwal et al. 2021), from :func:`~fairbench.reports.stats.improvement_probabilities`;
    with ``flagged`` each per-setting comparison names its degenerate seeds."""
    if "experiment" in poi:
        experiments = reference_experiments(poi) if experiments is None else experiments
        data = poi[poi["experiment"].isin(list(experiments))]
    else:
        data = poi
    if data.empty:
        raise MissingInputError("no probability of improvement: need an NBS variant and its one-stage counterpart "
                                f"({', '.join(f'{a}/{b}' for a, b in NBS_PAIRS.items())}) in one setting")
    settings = {s: i for i, s in enumerate(setting_order(data.loc[data["setting"] != "all", "setting"]))}
    settings["all"] = len(settings)
    methods = {m: i for i, m in enumerate([*NBS_PAIRS, "all"])}
    metrics = {m: i for i, m in enumerate(POI_METRICS)}
    data = data.assign(_s=data["setting"].map(settings), _m=data["method"].map(methods),
                       _k=data["metric"].map(metrics))
    data = data.sort_values(["protocol", "_k", "_s", "_m"]).drop(columns=["_s", "_m", "_k"]).reset_index(drop=True)
    degenerate = _degenerate_lookup(flagged, GROUP_KEYS)
    rows = []
    for r in data.itertuples(index=False):
        better = "higher" if POI_METRICS.get(r.metric, True) else "lower"
        comparison = ("all NBS variants vs their one-stage counterparts" if r.method == "all"
                      else f"{method_label(r.method)} vs {method_label(r.baseline)}" if r.setting == "all"
                      else _pair_label(r, degenerate))
        setting = f"all ({r.n_settings} settings)" if r.setting == "all" else setting_label(r.setting)
        sure = r.ci_low > 0.5 or r.ci_high < 0.5
        rows.append([Cell(str(r.protocol)), Cell(f"{metric_label(r.metric)} ({better} is better)"), Cell(setting),
                     Cell(comparison), Cell(str(int(r.n))),
                     Cell(fmt_mean_ci(r.p_improve, r.ci_low, r.ci_high, digits=2), bold=bool(sure)),
                     Cell("–" if np.isnan(r.rel_improve) else
                          f"{100 * r.rel_improve:+.1f} % [{100 * r.rel_low:+.1f}, {100 * r.rel_high:+.1f}]"),
                     Cell(str(r.ci_kind))])
    legend = ["P(improvement) = P(NBS variant better than its one-stage counterpart) over pairs of runs, ties "
              "counting 1/2 (Agarwal et al., NeurIPS 2021); 0.5 = no difference. 'all' rows average over settings "
              "(and over the three pairs), with a stratified bootstrap (seeds resampled within each setting).",
              "[95 % CI]: bootstrap percentile interval; seeds are resampled jointly for the two methods of a pair "
              "(same seed = same split and initial weights); where every run of the pair scored one shared test "
              "set (and has predictions.npz), its rows are resampled within (group, label) cells too, with one "
              "draw for both methods; where each seed drew its own test set, the seed spread already holds that "
              "noise. Bold: the interval excludes 0.5.",
              "Relative change of the seed means: (NBS - one-stage) / one-stage, sign flipped for Max-gAUCD, so "
              "positive = NBS better.",
              "n: seeds both methods ran (minimum over settings for 'all' rows)."]
    if degenerate:
        legend.append(f"{DEGENERATE_MARK} k/n: k of that method's n seeds are degenerate at the selected epoch "
                      "(see degenerate_runs).")
    return Table(name="improvement", title="Probability of improvement: NBS variants vs one-stage counterparts",
                 header=["Protocol", "Metric", "Setting", "Comparison", "n", "P(improvement) [95 % CI]",
                         "Relative change [95 % CI]", "CI resamples"],
                 rows=rows, legend=legend, data=data, align="llllcccl")


def widths_table(selected: pd.DataFrame, *, experiments: Sequence[str] | None = None,
                 counts: Mapping[str, CellCounts] | None = None) -> Table:
    """Interval widths with the first seeds and with all of them (:mod:`fairbench.reports.seed_count`)."""
    sub = _subset(selected, experiments=experiments, what="interval-width table")
    table = seed_count_table(ci_widths_by_seeds(sub, counts))
    if table is None:
        raise MissingInputError(f"no configuration has more than {FEW_SEEDS} seeds")
    return table


SWEEP_METRICS: tuple[str, ...] = (CRITERION, "auc", "group_auc_gap")


def sweep_table(selected: pd.DataFrame, protocol: str, *, experiments: Sequence[str] | None = None,
                sweeps: Sweeps | None = None, counts: Mapping[str, CellCounts] | None = None) -> Table:
    """Every point of every lambda sweep under ``protocol`` (:mod:`fairbench.reports.sweeps`): per setting,
    regulariser and lambda, the mean validation worst-group AUC (the rule's criterion), test AUC and
    Max-gAUCD with their 95 % intervals (as in the main table); the chosen point, which the other tables
    report, is marked. ``selected`` holds every point's runs (one row per run at its selected epoch)."""
    experiments = reference_experiments(selected) if experiments is None else experiments
    sweeps = find_sweeps(selected, experiments) if sweeps is None else sweeps
    points = sweeps.points[sweeps.points["protocol"] == protocol] if sweeps else sweeps.points
    if points.empty:
        raise MissingInputError(f"no lambda sweep under the {protocol} protocol (a method run in several reference "
                                "experiments with different fair_lambda values)")
    runs = selected[selected["run_dir"].isin(set(sweeps.runs["run_dir"])) & (selected["protocol"] == protocol)]
    flagged, counts = _evidence(runs.drop_duplicates("run_dir"), counts)
    by = ("setting", "method", "fair_lambda")
    summary = bootstrap_summary(flagged, SWEEP_METRICS, counts, by=by).set_index([*by, "metric"])
    degenerate = degenerate_counts(flagged, by=by).set_index(list(by))
    rows, records = [], []
    for setting in setting_order(points["setting"]):
        here = points[points["setting"] == setting]
        for method in method_order(here["method"]):
            for point in here[here["method"] == method].sort_values("fair_lambda").itertuples():
                key = (setting, method, point.fair_lambda)
                n_deg, n_runs = (int(degenerate.loc[key, c]) for c in ("n_degenerate", "n_runs"))
                label = _marked(method_label(method), (n_deg, n_runs) if n_deg else None)
                row = [Cell(setting_label(setting)), Cell(label), Cell(lambda_text(point.fair_lambda),
                                                                       bold=bool(point.chosen)),
                       Cell(str(n_runs))]
                record: dict[str, object] = {"setting": setting, "method": method, "fair_lambda": point.fair_lambda,
                                             "experiment": point.experiment, "chosen": bool(point.chosen),
                                             "n_runs": n_runs, "n_degenerate": n_deg}
                for metric in SWEEP_METRICS:
                    stats = {s: float(summary.loc[(*key, metric), s]) for s in ("mean", "std", "ci_low", "ci_high")}
                    row.append(Cell(fmt_mean_ci(stats["mean"], stats["ci_low"], stats["ci_high"]),
                                    bold=bool(point.chosen) and metric == CRITERION))
                    record.update({f"{metric}_{s}": v for s, v in stats.items()})
                row.append(Cell("chosen" if point.chosen else ""))
                rows.append(row)
                records.append(record)
    test_summary = summary.reset_index()
    legend = [f"Epoch: {_rule_note(flagged)}. Each regulariser's lambda sweep; the other tables report the chosen "
              f"point (bold lambda, 'chosen'): {SWEEP_RULE}.",
              "n: seeds (runs) of the point. Val Worst-gAUC: the rule's criterion, mean [95 % t-interval over seeds] "
              "on the validation rows.",
              _ci_legend(test_summary[test_summary["metric"] != CRITERION]),
              _degenerate_legend(flagged)]
    return Table(name=f"sweep_{protocol}", title=f"Lambda sweeps of the fairness regularisers, {protocol} protocol",
                 header=["Setting", "Method", "λ", "n", f"Val {metric_label('worst_group_auc')} (criterion)",
                         *(metric_label(m) for m in SWEEP_METRICS[1:]), "Reported"],
                 rows=rows, legend=legend, data=pd.DataFrame(records), align="llccccccl")


def write_tables(frame: pd.DataFrame, out_dir: str | Path, *, selection: str | None = None, test: str = "t",
                 experiments: Sequence[str] | None = None) -> list[Path]:
    """Select epochs, run the paired tests and write every table that the runs support to ``out_dir``.

    ``frame`` is :func:`~fairbench.reports.collect.collect_runs`'s output; ``selection=None`` uses each
    protocol's own rule. Also writes ``summary.csv`` (all metrics, all groups, mean, std and bootstrap
    interval), ``selected_runs.csv`` (every run at its selected epoch with its degenerate flag),
    ``failed_runs.csv`` and ``index.md`` (what was written, what was skipped and why). Returns the
    written paths. Test-row resampling uses each run's predictions.npz where present.
    """
    if frame.empty:
        raise ValueError("no runs: nothing to tabulate")
    experiments = reference_experiments(frame) if experiments is None else experiments
    out = Path(out_dir)
    selected = select_epochs(frame, selection)
    counts = load_selected_counts(selected)
    every_point = flag_degenerate(selected, counts)
    sweeps = find_sweeps(every_point, experiments)  # each lambda sweep reported at its chosen point
    selected, frame = sweeps.keep_chosen(every_point), sweeps.keep_chosen(frame)
    metrics = [m for m in TEST_METRICS if m in selected.columns]
    tests = paired_tests(selected, metrics, test=test)
    poi = improvement_probabilities(selected, counts)
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
        written.append(f"[{table.title}]({table.name}.md) ({table.name})")

    for protocol in sorted(selected["protocol"].unique()):
        attempt(f"main_{protocol}", lambda p=protocol: main_table(selected, p, tests=tests, experiments=experiments,
                                                                  counts=counts))
        attempt(f"alignment_{protocol}", lambda p=protocol: alignment_table(frame, p, experiments=experiments,
                                                                            flagged=selected))
    attempt("comparisons", lambda: comparisons_table(selected, experiments=experiments, counts=counts))
    attempt("paired_tests", lambda: paired_tests_table(tests, flagged=selected))
    attempt("improvement", lambda: improvement_table(poi, experiments=experiments, flagged=selected))
    attempt("degenerate_runs", lambda: degenerate_table(selected, experiments=experiments, counts=counts))
    attempt("protocols", lambda: protocols_table(selected, experiments=experiments, counts=counts))
    attempt("ci_width_by_seeds", lambda: widths_table(selected, experiments=experiments, counts=counts))
    for protocol in sorted(selected["protocol"].unique()) if sweeps else []:
        attempt(f"sweep_{protocol}", lambda p=protocol: sweep_table(every_point, p, experiments=experiments,
                                                                    sweeps=sweeps, counts=counts))
    summary = bootstrap_summary(every_point, [m for m in every_point.columns if m in HIGHER_IS_BETTER], counts)
    failed = failed_runs(frame)
    sweep_columns = ("fair_lambda", CHOSEN_COLUMN) if sweeps else ()
    run_columns = [c for c in (*CONFIG_KEYS, *sweep_columns, "seed", "selection", "selected_epoch", *TEST_METRICS,
                               "degenerate", "degenerate_reason", "chance_tested", "run_auc_low", "run_auc_high",
                               "run_dir")
                   if c in selected.columns]
    every_point = sweeps.mark(every_point) if sweeps else every_point  # every run, the chosen points' marked
    for name, data in (("summary.csv", summary), ("selected_runs.csv", every_point[run_columns]),
                       ("failed_runs.csv", failed)):
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
