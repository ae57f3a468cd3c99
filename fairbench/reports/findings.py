"""``FINDINGS.md``: the paper's claims next to the evidence of the runs, with a verdict from one rule.

Built from run records only (``metrics.csv``, ``run.json``, ``predictions.npz`` where present), under
each protocol's own epoch selection (:mod:`fairbench.reports.selection`). Every claim gets a statistic, its
95 % bootstrap interval and a threshold; the verdict is

- **supported** when the interval lies entirely on the claimed side of the threshold,
- **contradicted** when it lies entirely on the other side,
- **inconclusive** otherwise.

Claims (Zeng et al., NeurIPS 2024; docs/method.md):

1. the two-stage method improves overall performance over its one-stage counterpart ("up to 10 %"):
   P(NBS AUC > one-stage AUC) over settings and the three pairs (Agarwal et al. 2021), threshold 0.5;
2. it reduces disparity ("up to 67 %"): P(NBS Max-gAUCD < one-stage Max-gAUCD), threshold 0.5;
3. bargaining resolves hypergradient conflicts in stage 1: stage-1 alignment rate of the applied
   (clipped) weights, NBS minus its one-stage counterpart over the same epochs, threshold 0;
4. each NBS step is a Pareto improvement on the validation cells: stage-1 ``pareto_improvement_rate``
   of the NBS variants, threshold 0.9 (nearly every step);
5. the validation loss improves monotonically: share of consecutive stage-1 epochs in which the mean
   validation cell loss does not rise, NBS variants, threshold 0.9;
6. one-stage methods are unreliable across fairness notions: over settings, objectives and four
   notions (Max-gAUCD, Worst-gAUC, TPR gap, FPR gap), the share where NBS is at least as fair as ERM
   minus the share where the one-stage method is, threshold 0.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fairbench.io import write_text_atomic
from fairbench.reports.bootstrap import key_rng, load_selected_counts, percentile_ci
from fairbench.reports.collect import prefer_experiments
from fairbench.reports.degenerate import flag_degenerate
from fairbench.reports.labels import method_label, metric_label, setting_label, setting_order
from fairbench.reports.selection import select_epochs
from fairbench.reports.seed_count import FEW_SEEDS, WIDTH_METRICS, ci_widths_by_seeds
from fairbench.reports.stats import NBS_PAIRS, improvement_probabilities, nbs_stage1_identical
from fairbench.reports.tables import ALIGNMENT_WINDOW, MAIN_EXPERIMENTS, SELECTION_NOTES, _stage1_rows

__all__ = ["VERDICT_RULE", "Claim", "build_findings", "verdict", "write_findings"]

VERDICT_RULE = ("Verdict rule: **supported** when the 95 % bootstrap interval of the claim's statistic lies "
                "entirely on the claimed side of its threshold, **contradicted** when it lies entirely on the "
                "other side, **inconclusive** otherwise.")
#: Test sets smaller than this are called out as weak evidence.
WEAK_TEST_ROWS = 100
FAIRNESS_NOTIONS: dict[str, bool] = {"group_auc_gap": False, "worst_group_auc": True, "tpr_gap": False,
                                     "fpr_gap": False}
NOTION_LABELS = {"group_auc_gap": "Max-gAUCD", "worst_group_auc": "Worst-gAUC", "tpr_gap": "TPR gap",
                 "fpr_gap": "FPR gap"}
DEFAULT_DRAWS = 2000


@dataclass(frozen=True)
class Claim:
    """One claim measured under one protocol."""

    number: int
    claim: str
    protocol: str
    statistic: str
    value: float
    ci_low: float
    ci_high: float
    threshold: float
    higher: bool
    evidence: str
    verdict: str


def verdict(low: float, high: float, threshold: float, higher: bool = True) -> str:
    """The page's rule: the interval on the claimed side of ``threshold`` -> supported, on the other side ->
    contradicted, else (or NaN) inconclusive."""
    if np.isnan(low) or np.isnan(high):
        return "inconclusive"
    above, below = low > threshold, high < threshold
    if higher:
        return "supported" if above else "contradicted" if below else "inconclusive"
    return "supported" if below else "contradicted" if above else "inconclusive"


def _fmt(value: float, low: float, high: float, digits: int = 2) -> str:
    if np.isnan(value):
        return "–"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _stratified(groups: Sequence[np.ndarray], rng: np.random.Generator, n_boot: int) -> tuple[float, float, float]:
    """Mean over groups of the mean over seeds, with a bootstrap resampling the seeds within each group."""
    groups = [g[~np.isnan(g)] for g in groups]
    groups = [g for g in groups if g.size]
    if not groups:
        return float("nan"), float("nan"), float("nan")
    point = float(np.mean([g.mean() for g in groups]))
    draws = np.mean([g[rng.integers(0, g.size, size=(n_boot, g.size))].mean(axis=1) for g in groups], axis=0)
    low, high = percentile_ci(draws)
    return point, low, high


def _stage1_per_run(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Per run: the mean of ``columns`` over its first min(stage-1 epochs, 15) epochs (as the alignment table)."""
    rows = _stage1_rows(frame, ALIGNMENT_WINDOW)
    present = [c for c in columns if c in rows.columns]
    per_run = rows.groupby("run_dir")[present].mean()
    runs = frame.drop_duplicates("run_dir").set_index("run_dir")[["protocol", "setting", "method", "seed"]]
    return runs.join(per_run, how="inner")


def _monotone_share(frame: pd.DataFrame) -> pd.DataFrame:
    """Per run: share of consecutive stage-1 epochs whose mean validation cell loss (after the step) does not rise."""
    after = [c for c in frame.columns if c.startswith("val_cell_loss_after/")]
    rows = _stage1_rows(frame, ALIGNMENT_WINDOW)
    out = []
    for run_dir, group in rows.groupby("run_dir"):
        loss = group.sort_values("epoch")[after].mean(axis=1).to_numpy()
        steps = np.diff(loss[~np.isnan(loss)])
        if steps.size:
            out.append({"run_dir": run_dir, "monotone_share": float(np.mean(steps <= 0))})
    runs = frame.drop_duplicates("run_dir").set_index("run_dir")[["protocol", "setting", "method", "seed"]]
    return runs.join(pd.DataFrame(out, columns=["run_dir", "monotone_share"]).set_index("run_dir"), how="inner")


def _paired_differences(per_run: pd.DataFrame, column: str) -> list[np.ndarray]:
    """Per (setting, pair): NBS minus one-stage values of ``column``, paired by seed."""
    out = []
    for _, group in per_run.groupby("setting"):
        for nbs, base in NBS_PAIRS.items():
            a = group[group["method"] == nbs].set_index("seed")[column]
            b = group[group["method"] == base].set_index("seed")[column]
            seeds = sorted(set(a.index) & set(b.index))
            if seeds:
                out.append(a.loc[seeds].to_numpy(dtype=float) - b.loc[seeds].to_numpy(dtype=float))
    return out


def _by_method(per_run: pd.DataFrame, column: str, methods: Sequence[str]) -> list[np.ndarray]:
    return [g[column].to_numpy(dtype=float) for _, g in per_run[per_run["method"].isin(list(methods))]
            .groupby(["setting", "method"])]


def _reliability(selected: pd.DataFrame, rng: np.random.Generator, n_boot: int) -> tuple[float, float, float, str]:
    """Claim 6: mean over settings of [share of (objective, notion) with NBS at least as fair as ERM minus the
    same share for the one-stage method], seeds resampled within each setting (shared by the methods)."""
    per_setting_points, per_setting_draws, detail = [], [], []
    for setting, group in selected.groupby("setting"):
        methods = {m: g.set_index("seed") for m, g in group.groupby("method")}
        pairs = [(n, b) for n, b in NBS_PAIRS.items() if n in methods and b in methods]
        if "erm" not in methods or not pairs:
            continue
        seeds = sorted(set.intersection(*(set(methods[m].index) for m in ["erm", *[x for p in pairs for x in p]])))
        if not seeds:
            continue
        notions = [n for n in FAIRNESS_NOTIONS if n in group.columns]
        idx = np.vstack([np.arange(len(seeds))[None, :], rng.integers(0, len(seeds), size=(n_boot, len(seeds)))])

        def fair(method: str, notion: str) -> np.ndarray:
            """(1 + n_boot,) indicator: the method's seed mean at least as fair as ERM's (row 0: the data)."""
            x = methods[method].loc[seeds, notion].to_numpy(dtype=float)[idx].mean(axis=1)
            e = methods["erm"].loc[seeds, notion].to_numpy(dtype=float)[idx].mean(axis=1)
            return (x >= e) if FAIRNESS_NOTIONS[notion] else (x <= e)

        diffs = [fair(n, k).astype(float) - fair(b, k).astype(float) for n, b in pairs for k in notions]
        values = np.mean(diffs, axis=0)
        per_setting_points.append(values[0])
        per_setting_draws.append(values[1:])
        one = np.mean([fair(b, k)[0] for _, b in pairs for k in notions])
        two = np.mean([fair(n, k)[0] for n, _ in pairs for k in notions])
        detail.append(f"{setting_label(setting)}: one-stage {one:.0%}, NBS {two:.0%}")
    if not per_setting_points:
        return float("nan"), float("nan"), float("nan"), "no setting has ERM, an NBS variant and its counterpart"
    low, high = percentile_ci(np.mean(per_setting_draws, axis=0))
    return float(np.mean(per_setting_points)), low, high, "; ".join(detail)


def _test_rows(selected: pd.DataFrame) -> dict[tuple[str, str], int]:
    """Test-set rows per (protocol, setting): the smallest recorded in run.json among its runs."""
    out: dict[tuple[str, str], int] = {}
    for row in selected.drop_duplicates("run_dir").itertuples(index=False):
        try:
            n = json.loads((Path(str(row.run_dir)) / "run.json").read_text()).get("data", {}).get("n_test")
        except (OSError, ValueError):
            n = None
        if n:
            key = (str(row.protocol), str(row.setting))
            out[key] = min(out.get(key, int(n)), int(n))
    return out


def _protocol_claims(frame: pd.DataFrame, selected: pd.DataFrame, poi: pd.DataFrame, protocol: str,
                     n_boot: int, seed: int) -> list[Claim]:
    rng = key_rng(seed, "findings", protocol)
    sel = selected[selected["protocol"] == protocol]
    runs = frame[frame["protocol"] == protocol]
    here = poi[(poi["protocol"] == protocol) & (poi["experiment"] == "main")]
    claims: list[Claim] = []

    def add(number: int, text: str, statistic: str, values: tuple[float, float, float], threshold: float,
            evidence: str, higher: bool = True) -> None:
        value, low, high = values
        claims.append(Claim(number, text, protocol, statistic, value, low, high, threshold, higher, evidence,
                            verdict(low, high, threshold, higher)))

    for number, metric, text, paper in ((1, "auc", "The two-stage method improves overall performance over its "
                                         "one-stage counterpart", "up to 10 %"),
                                        (2, "group_auc_gap", "The two-stage method reduces disparity (Max-gAUCD) "
                                         "compared with its one-stage counterpart", "up to 67 %")):
        agg = here[(here["setting"] == "all") & (here["method"] == "all") & (here["metric"] == metric)]
        per = here[(here["setting"] != "all") & (here["metric"] == metric)]
        if agg.empty:
            continue
        a = agg.iloc[0]
        best = per.loc[per["rel_improve"].idxmax()] if per["rel_improve"].notna().any() else None
        worst_group = here[(here["setting"] == "all") & (here["method"] == "all")
                           & (here["metric"] == "worst_group_auc")]
        evidence = [f"P(NBS better) = {_fmt(a.p_improve, a.ci_low, a.ci_high)} over {int(a.n_settings)} setting(s) x "
                    f"the NBS/one-stage pairs; the interval resamples {a.ci_kind}"]
        if best is not None:
            evidence.append(f"largest relative {'gain' if metric == 'auc' else 'reduction'}: "
                            f"{100 * best.rel_improve:+.1f} % [{100 * best.rel_low:+.1f}, {100 * best.rel_high:+.1f}] "
                            f"({method_label(best.method)} vs {method_label(best.baseline)}, "
                            f"{setting_label(best.setting)}); the paper: {paper}")
            n_better = int((per["ci_low"] > 0.5).sum())
            n_worse = int((per["ci_high"] < 0.5).sum())
            evidence.append(f"per setting and pair: {n_better} of {len(per)} with P(NBS better) > 0.5 and "
                            f"{n_worse} with P < 0.5 beyond their 95 % interval")
        if metric == "group_auc_gap" and not worst_group.empty:
            w = worst_group.iloc[0]
            evidence.append(f"Worst-gAUC: P(NBS better) = {_fmt(w.p_improve, w.ci_low, w.ci_high)}")
        add(number, f"{text} ({paper}).", f"P(NBS better), {metric_label(metric)}",
            (a.p_improve, a.ci_low, a.ci_high), 0.5, "; ".join(evidence) + ".")

    stage1 = _stage1_per_run(runs[runs["experiment"].isin(MAIN_EXPERIMENTS)],
                             ["alignment_rate", "applied_alignment_rate", "pareto_improvement_rate"])
    if {"alignment_rate", "applied_alignment_rate"} <= set(stage1.columns) and not stage1.empty:
        diff = _stratified(_paired_differences(stage1, "applied_alignment_rate"), rng, n_boot)
        nbs, one = list(NBS_PAIRS), list(NBS_PAIRS.values())
        parts = []
        for column, name in (("alignment_rate", "before clipping"), ("applied_alignment_rate", "after clipping")):
            n = _stratified(_by_method(stage1, column, nbs), rng, n_boot)
            o = _stratified(_by_method(stage1, column, one), rng, n_boot)
            parts.append(f"{name}: NBS {_fmt(*n)}, one-stage {_fmt(*o)}")
        add(3, "Bargaining resolves hypergradient conflicts in stage 1.",
            "stage-1 applied alignment rate, NBS - one-stage", diff, 0.0,
            "Alignment rate (share of batches whose direction improves every validation cell to first order), "
            f"mean over the first min(stage-1 epochs, {ALIGNMENT_WINDOW}) epochs: " + "; ".join(parts)
            + " (seeds resampled within each setting).")
    if "pareto_improvement_rate" in stage1.columns and not stage1.empty:
        nbs_rate = _stratified(_by_method(stage1, "pareto_improvement_rate", list(NBS_PAIRS)), rng, n_boot)
        one_rate = _stratified(_by_method(stage1, "pareto_improvement_rate", list(NBS_PAIRS.values())), rng, n_boot)
        add(4, "Each NBS step is a Pareto improvement on the validation cells.",
            "stage-1 share of NBS steps lowering every validation cell's loss", nbs_rate, 0.9,
            f"NBS {_fmt(*nbs_rate)}, one-stage counterparts over the same epochs {_fmt(*one_rate)} "
            "(pareto_improvement_rate: share of steps after which no cell's validation loss rose).")
    mono = _monotone_share(runs[runs["experiment"].isin(MAIN_EXPERIMENTS)])
    if not mono.empty:
        nbs_mono = _stratified(_by_method(mono, "monotone_share", list(NBS_PAIRS)), rng, n_boot)
        add(5, "The validation loss improves monotonically.",
            "stage-1 share of epochs where the mean validation cell loss does not rise (NBS)", nbs_mono, 0.9,
            f"NBS variants {_fmt(*nbs_mono)}; the loss is the mean over cells of each epoch's mean validation "
            "loss after the step (val_cell_loss_after/*).")
    rel = _reliability(sel, rng, n_boot)
    add(6, "One-stage methods are unreliable across fairness notions (the two-stage method is not).",
        "share at least as fair as ERM, NBS - one-stage", rel[:3], 0.0,
        "Over settings, objectives and the notions " + ", ".join(NOTION_LABELS[n] for n in FAIRNESS_NOTIONS)
        + f" (seed means vs ERM's): {rel[3]}.")
    return claims


def build_findings(frame: pd.DataFrame, *, n_boot: int = DEFAULT_DRAWS, seed: int = 0) -> tuple[str, pd.DataFrame]:
    """The Markdown page and its numbers (one row per claim and protocol) from collected runs."""
    if frame.empty:
        raise ValueError("no runs: nothing to compare with the paper's claims")
    main = prefer_experiments(frame, MAIN_EXPERIMENTS)
    if main.empty:
        raise ValueError(f"no runs of the experiments {list(MAIN_EXPERIMENTS)}: the findings need the main grid")
    selected = select_epochs(main)
    counts = load_selected_counts(selected)
    selected = flag_degenerate(selected, counts)
    poi = improvement_probabilities(selected, counts, n_boot=n_boot, seed=seed)
    protocols = [p for p in ("paper", "standard") if p in set(selected["protocol"])]
    protocols += sorted(set(selected["protocol"]) - set(protocols))
    claims = [c for p in protocols for c in _protocol_claims(main, selected, poi, p, n_boot, seed)]
    data = pd.DataFrame([c.__dict__ for c in claims])
    return _page(claims, selected, protocols, counts, _identical_stage1(main)), data


def _identical_stage1(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Per protocol: the settings whose three NBS variants ran identically through all of stage 1."""
    out: dict[str, list[str]] = {}
    for (protocol, setting), group in frame[frame["experiment"] == "main"].groupby(["protocol", "setting"]):
        found = nbs_stage1_identical(group)
        if found is not None and found[0] == found[1]:
            out.setdefault(str(protocol), []).append(str(setting))
    return out


def _page(claims: list[Claim], selected: pd.DataFrame, protocols: list[str], counts: dict,
          identical: dict[str, list[str]]) -> str:
    lines = ["# Findings: the paper's claims against the runs", "",
             "Generated by `fairbench report findings` from the run records (never edited by hand). "
             "Zeng et al., NeurIPS 2024; method and protocols: docs/method.md, docs/protocols.md.", "",
             VERDICT_RULE, "",
             "Intervals: 95 % bootstrap percentile intervals. Test metrics resample seeds and test rows within "
             "(group, label) cells where runs have predictions.npz, else seeds only (said next to each number); "
             "training diagnostics (alignment, Pareto, validation loss) resample seeds within each setting.", ""]
    lines += ["## Epoch selection", ""]
    for protocol in protocols:
        rules = sorted(selected.loc[selected["protocol"] == protocol, "selection"].unique())
        lines.append(f"- {protocol}: " + "; ".join(SELECTION_NOTES.get(r, r) for r in rules) + ".")
    lines += ["", "## Verdicts", "", "| # | Claim | " + " | ".join(f"{p} protocol" for p in protocols) + " |",
              "|---|---|" + "---|" * len(protocols)]
    for number in sorted({c.number for c in claims}):
        row = {c.protocol: c for c in claims if c.number == number}
        text = next(iter(row.values())).claim
        cells = [f"**{row[p].verdict}** ({_fmt(row[p].value, row[p].ci_low, row[p].ci_high)})" if p in row else "–"
                 for p in protocols]
        lines.append(f"| {number} | {text} | " + " | ".join(cells) + " |")
    lines += ["", "## Evidence", ""]
    for number in sorted({c.number for c in claims}):
        these = [c for c in claims if c.number == number]
        lines += [f"### {number}. {these[0].claim}", ""]
        for c in these:
            side = ">" if c.higher else "<"
            lines.append(f"- **{c.protocol}**: {c.statistic} = {_fmt(c.value, c.ci_low, c.ci_high)}, claimed "
                         f"{side} {c.threshold:g} -> **{c.verdict}**. {c.evidence}")
        lines.append("")
    lines += ["## Where the evidence is weak", ""]
    rows = _test_rows(selected)
    weak = {key: n for key, n in rows.items() if n < WEAK_TEST_ROWS}
    for setting in setting_order(s for _, s in weak):
        for protocol in protocols:
            n = weak.get((protocol, setting))
            if n is None:
                continue
            lines.append(f"- {setting_label(setting)}, {protocol} protocol: {n} test rows ({n // 4} per (group, label) "
                         f"cell when balanced): one row moves a cell's recall by 1/{max(n // 4, 1)}, so test-set "
                         "noise is as large as most effects.")
    n_runs = selected["run_dir"].nunique()
    missing = n_runs - len(counts)
    if missing:
        lines.append(f"- {missing} of {n_runs} selected runs have no predictions.npz: their intervals resample "
                     "seeds only and miss the test-set noise; retrain them to include it.")
    flat = selected.groupby(["protocol", "setting", "method"])["auc"].agg(["std", "count"])
    flat = flat[(flat["count"] > 1) & (flat["std"] == 0)]
    if len(flat):
        where = sorted({f"{p} {setting_label(s)}" for p, s, _ in flat.index})
        lines.append(f"- {len(flat)} (protocol, setting, method) configurations have the same AUC in every seed "
                     f"({', '.join(where)}): a seed-only interval has zero width there and says nothing about "
                     "the test-set noise.")
    for protocol in protocols:
        if identical.get(protocol):
            names = ", ".join(setting_label(s) for s in setting_order(identical[protocol]))
            lines.append(f"- {protocol} protocol: the three NBS variants are identical through all of stage 1 in "
                         f"{names}; there they differ only by their stage-2 objective, so claims 3-5 count the same "
                         "stage-1 runs three times.")
    seeds = selected.groupby(["protocol", "setting", "method"])["seed"].nunique()
    lines.append(f"- Seeds per (protocol, setting, method): {int(seeds.min())}-{int(seeds.max())}.")
    lines += _width_lines(selected, counts)
    degenerate = int(selected.drop_duplicates("run_dir")["degenerate"].sum())
    lines.append(f"- Degenerate runs (constant or at-chance predictions at the selected epoch): {degenerate} of "
                 f"{n_runs}; they stay in every number above (see tables/degenerate_runs.md).")
    if "paper" in protocols:
        lines.append("- The paper protocol selects its epoch on the test set (optimistic): the maximum of a "
                     "noisy seed-mean curve overstates every method's AUC.")
    return "\n".join(lines) + "\n"


def _width_lines(selected: pd.DataFrame, counts: dict) -> list[str]:
    """Per protocol with extra seeds: the median ratio of the interval widths with all seeds to those with
    the first :data:`~fairbench.reports.seed_count.FEW_SEEDS` (tables/ci_width_by_seeds.md)."""
    widths = ci_widths_by_seeds(selected, counts)
    lines = []
    for protocol, here in widths.groupby("protocol", sort=True):
        ratios = here.groupby("metric")["ratio"].median()
        names = ", ".join(setting_label(s) for s in setting_order(here["setting"].unique()))
        lines.append(f"- More seeds ({protocol} protocol; {names}): with {int(here['n_all'].min())}-"
                     f"{int(here['n_all'].max())} seeds instead of the first {FEW_SEEDS}, the intervals are "
                     + ", ".join(f"{metric_label(m)} {ratios[m]:.2f}" for m in WIDTH_METRICS if m in ratios)
                     + f" times as wide (median over methods; {float(here['expected'].median()):.2f} expected for "
                     "independent seeds; tables/ci_width_by_seeds.md).")
    return lines


def write_findings(frame: pd.DataFrame, out: str | Path, *, n_boot: int = DEFAULT_DRAWS, seed: int = 0,
                   data_out: str | Path | None = None, html_out: str | Path | None = None) -> list[Path]:
    """Write the page atomically, and when asked its numbers as CSV (``data_out``) and the page as HTML for
    the Snakemake report (``html_out``); returns the paths."""
    from fairbench.reports.tables_html import markdown_to_html

    text, data = build_findings(frame, n_boot=n_boot, seed=seed)
    out = Path(out)
    write_text_atomic(out, text)
    paths = [out]
    if data_out is not None:
        write_text_atomic(Path(data_out), data.to_csv(index=False, float_format="%.6g"))
        paths.append(Path(data_out))
    if html_out is not None:
        write_text_atomic(Path(html_out), markdown_to_html(text, "Findings"))
        paths.append(Path(html_out))
    return paths
