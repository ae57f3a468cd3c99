"""``FINDINGS.md``: the paper's claims next to the evidence of the runs, with a verdict from one stated rule.

Built from run records only (``metrics.csv``, ``run.json``, ``predictions.npz`` where present), under each
protocol's own epoch selection (:mod:`fairbench.reports.selection`). The claims, their statistics and
thresholds are in :mod:`fairbench.reports.claims`, the rule in :mod:`fairbench.reports.verdicts`, the
intervals in :mod:`fairbench.reports.inference`, the analysis choices in :mod:`fairbench.reports.robustness`.
Whatever the experiment and method set, the page says what it can measure and what it lacks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairbench.io import write_text_atomic
from fairbench.reports.bargaining import ablation_experiments, ablation_frame, ablation_lines, ablation_needs, \
    diff_verdicts
from fairbench.reports.bootstrap import load_selected_counts
from fairbench.reports.claims import CLAIM_TEXT, EFFECT_UNITS, MARGINS, ClaimResult, monotone_share, stage1_per_run
from fairbench.reports.sweeps import prefer_chosen
from fairbench.reports.degenerate import REASON_LABELS, flag_degenerate
from fairbench.reports.field import compared_experiments, field_experiments, field_frame, field_lines, field_needs, \
    field_selection
from fairbench.reports.inference import TIE_TOLERANCE, Estimate, equivalent, min_detectable_effect, t_interval
from fairbench.reports.labels import method_label, metric_label, setting_label, setting_order
from fairbench.reports.robustness import measure_all, robust, robustness_frame, robustness_markdown, \
    specification_curve
from fairbench.reports.selection import select_epochs
from fairbench.reports.seed_count import FEW_SEEDS, WIDTH_METRICS, ci_widths_by_seeds
from fairbench.reports.stats import NBS_PAIRS, holm_bonferroni, nbs_stage1_identical
from fairbench.reports.tables import MAIN_EXPERIMENTS, SELECTION_NOTES
from fairbench.reports.verdicts import ALPHA, MIN_NON_DEGENERATE, MIN_SEEDS, judge

__all__ = ["VERDICT_RULE", "build_findings", "default_target_differences", "write_findings"]

VERDICT_RULE = (f"Verdict rule: **insufficient evidence** below {MIN_SEEDS} paired seeds in the median setting or "
                f"below {MIN_NON_DEGENERATE:.0%} non-degenerate runs; else **supported** when the one-sided t-test "
                "that the statistic lies on the claimed side of its threshold rejects at 5 % after Holm's "
                "adjustment within its family (family-wise error rate; the paper's claims 1-6 form one family, the "
                "bargaining ablation's claims 7-12 another; the comparison with the literature's baselines has "
                "its own, below), **contradicted** when the "
                "test of the other side does, **inconclusive** otherwise.")
#: Test sets smaller than this are called out as weak evidence.
WEAK_TEST_ROWS = 100
DEFAULT_DRAWS = 1000
STAGE1_COLUMNS = ["alignment_rate", "applied_alignment_rate", "pareto_improvement_rate"]


def _fmt(value: float, low: float, high: float, digits: int = 2, sign: bool = False) -> str:
    if not np.isfinite(value):
        return "–"
    f = f"{{:{'+' if sign else ''}.{digits}f}}"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f.format(value) + " [no interval]"
    return f"{f.format(value)} [{f.format(low)}, {f.format(high)}]"


def _est(e: Estimate, digits: int = 2, sign: bool = False) -> str:
    return _fmt(e.point, *e.interval(), digits=digits, sign=sign)


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


def default_target_differences(frame: pd.DataFrame) -> list[str] | None:
    """How the main grid of ``frame`` differs from the default target (``config/config.yaml``'s ``main``
    experiment, every seed, the reference epochs); [] when it is that target, None when the default
    configuration cannot be read."""
    import yaml

    from fairbench.hparams import REFERENCE_HYPERPARAMS
    from fairbench.pipeline.config import experiment_seeds

    path = Path(__file__).resolve().parents[2] / "config" / "config.yaml"
    try:
        config = yaml.safe_load(path.read_text())
        main = config["experiments"]["main"]
        expected = {(p, s, m, seed) for p in main["protocols"] for s in main["settings"] for m in main["methods"]
                    for seed in experiment_seeds(config, "main", p, s)}
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
        return None
    runs = frame[frame["experiment"] == "main"].drop_duplicates("run_dir")
    have = {(r.protocol, r.setting, r.method, int(r.seed)) for r in runs.itertuples()}
    out = []
    if have != expected:
        missing, extra = expected - have, have - expected
        if missing:
            out.append(f"{len(missing)} of the default target's {len(expected)} main-grid runs are missing")
        if extra:
            out.append(f"{len(extra)} runs are not in the default target")
    short = [r for r in runs.itertuples() if r.setting in REFERENCE_HYPERPARAMS
             and int(r.epochs) != int(REFERENCE_HYPERPARAMS[r.setting].epochs)]
    if short:
        out.append(f"{len(short)} runs trained a different number of epochs than the reference")
    return out


def _identical_stage1(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Per protocol: the settings whose three NBS variants ran identically through all of stage 1."""
    out: dict[str, list[str]] = {}
    for (protocol, setting), group in frame[frame["experiment"] == "main"].groupby(["protocol", "setting"]):
        found = nbs_stage1_identical(group)
        if found is not None and found[0] == found[1]:
            out.setdefault(str(protocol), []).append(str(setting))
    return out


def _stage1(main: pd.DataFrame) -> pd.DataFrame:
    runs = main  # already the chosen experiments
    per_run = stage1_per_run(runs, STAGE1_COLUMNS)
    mono = monotone_share(runs)[["run_dir", "monotone_share"]]
    return per_run.merge(mono, on="run_dir", how="outer") if not per_run.empty else mono.assign(
        protocol=[], setting=[], method=[], seed=[])


def _needs(frame: pd.DataFrame) -> list[str]:
    """What the page needs and the runs lack, one line each."""
    present = set(frame["method"])
    out = []
    pairs = [f"{method_label(a)} with {method_label(b)}" for a, b in NBS_PAIRS.items()
             if not (a in present and b in present)]
    if len(pairs) == len(NBS_PAIRS):
        out.append("no NBS variant ran together with its one-stage counterpart (" + "; ".join(pairs)
                   + "): claims 1-6 need at least one such pair")
    elif pairs:
        out.append("pairs not run, left out of every claim: " + "; ".join(pairs))
    if "erm" not in present:
        out.append("claim 6 needs ERM (erm), which did not run")
    return out + ablation_needs(frame)


def build_findings(frame: pd.DataFrame, *, n_boot: int = DEFAULT_DRAWS, seed: int = 0,
                   robustness: bool = True) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """The Markdown page, its numbers (one row per claim and protocol) and the robustness table."""
    return _build(frame, n_boot=n_boot, seed=seed, robustness=robustness)[:3]


def _build(frame: pd.DataFrame, *, n_boot: int, seed: int,
           robustness: bool) -> tuple[str, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """:func:`build_findings`, the bargaining ablation's per-setting table and that of NBS against the
    literature's baselines."""
    if frame.empty:
        raise ValueError("no runs: nothing to compare with the paper's claims")
    experiments = [e for e in MAIN_EXPERIMENTS if e in set(frame["experiment"])] or sorted(set(frame["experiment"]))
    experiments += ablation_experiments(frame, experiments)  # the training-gradient bargains, beside main
    main = prefer_chosen(frame, experiments)  # a lambda sweep counts at its chosen point only
    selected = select_epochs(main)
    counts = load_selected_counts(selected)
    selected = flag_degenerate(selected, counts)
    protocols = [p for p in ("paper", "standard") if p in set(selected["protocol"])]
    protocols += sorted(set(selected["protocol"]) - set(protocols))
    stage1 = _stage1(main)
    results = measure_all(main, stage1, protocols, rule=None, statistic="poi", exclude_degenerate=False,
                          selected=selected, counts=counts, n_boot=n_boot, seed=seed)
    verdicts = judge(results)
    robust_frame = robustness_frame(main, stage1, protocols, n_boot=n_boot, seed=seed) if robustness and results \
        else pd.DataFrame(columns=["claim", "protocol", "verdict"])
    rows = []
    for (protocol, number), r in results.items():
        low, high = r.interval()
        elow, ehigh = r.effect.interval()
        v = verdicts[(protocol, number)]
        rows.append({"number": number, "protocol": protocol, "claim": CLAIM_TEXT[number], "statistic": r.name,
                     "value": r.primary.point, "ci_low": low, "ci_high": high, "threshold": r.threshold,
                     "higher": r.higher, "p_holm": v.p_claim, "p_holm_other": v.p_other, "effect": r.effect.point,
                     "effect_low": elow, "effect_high": ehigh, "mde": min_detectable_effect(r.effect),
                     "margin": MARGINS[number], "equivalent": equivalent(r.effect, MARGINS[number]),
                     "verdict": v.verdict})
    data = pd.DataFrame(rows, columns=["number", "protocol", "claim", "statistic", "value", "ci_low", "ci_high",
                                       "threshold", "higher", "p_holm", "p_holm_other", "effect", "effect_low",
                                       "effect_high", "mde", "margin", "equivalent", "verdict"])
    own_rules = {str(p): str(rules[0]) for p, rules in selected.groupby("protocol")["selection"].unique().items()
                 if len(rules) == 1}
    ablation = ablation_frame(results, verdicts, protocols, diff_verdicts(robust_frame, own_rules))
    # the literature's baselines: their own runs (each sweep at its chosen point) beside the claims' NBS runs,
    # which the claims above never see, so their verdicts stay as they are
    field_order = [*experiments, *field_experiments(frame, experiments)]
    field_sel, field_counts = field_selection(frame, field_order, selected, counts)
    field = field_frame(field_sel, field_counts, protocols, n_boot=n_boot, seed=seed)
    field_section = field_lines(field, field_needs(field_sel), compared_experiments(frame, field_order))
    page = _page(results, verdicts, robust_frame, selected, protocols, counts, _identical_stage1(main), main,
                 experiments, ablation, field_section, field_needs(field_sel))
    return page, data, robust_frame, ablation, field


def _cell(r: ClaimResult, verdict: str) -> str:
    side = ">" if r.higher else "<"
    return (f"**{verdict}**: {r.name} = {_fmt(r.primary.point, *r.interval())} (claimed {side} {r.threshold:g}); effect "
            f"{_est(r.effect, 3, sign=True)} {EFFECT_UNITS[r.number]}")


def _effect_line(r: ClaimResult) -> str:
    margin = MARGINS[r.number]
    mde = min_detectable_effect(r.effect)
    eq = equivalent(r.effect, margin)
    eq_text = ("no interval, so no equivalence test" if eq is None else
               f"equivalent to no effect within +-{margin:g} (TOST, 5 %): no effect larger than {margin:g}"
               if eq else f"not shown equivalent to no effect within +-{margin:g} (TOST, 5 %)")
    mde_text = f"{mde:.3f}" if np.isfinite(mde) else "– (no interval)"
    per = [f"{setting_label(s)} {min_detectable_effect(e):.3f}" for s, (_, e) in r.per_setting.items()
           if np.isfinite(min_detectable_effect(e))]
    return (f"effect {_est(r.effect, 3, sign=True)} {EFFECT_UNITS[r.number]}; minimum detectable effect "
            f"(80 % power, 5 % two-sided) pooled {mde_text}" + (f", per setting: {', '.join(per)}" if per else "")
            + f"; {eq_text}")


def _pair_lines(r: ClaimResult) -> list[str]:
    """Per (setting, pair): Holm-adjusted paired t-tests, and the largest effect with a Bonferroni
    simultaneous interval over all of them (selection-aware: it covers the selected maximum)."""
    items = [(k, e) for k, e in r.per_pair.items() if np.isfinite(e.se) and e.se > 0]
    if not items:
        return []
    from fairbench.reports.inference import one_sided_p

    p = np.array([2 * min(one_sided_p(e, 0.0, True), one_sided_p(e, 0.0, False)) for _, e in items])
    adj = holm_bonferroni(np.minimum(p, 1.0))
    sign = 1.0 if r.number == 1 else -1.0  # claim 2: a lower gap is better
    better = sum(1 for (_, e), a in zip(items, adj) if a < ALPHA and sign * e.point > 0)
    worse = sum(1 for (_, e), a in zip(items, adj) if a < ALPHA and sign * e.point < 0)
    (setting, method), best = max(items, key=lambda it: sign * it[1].point)
    level = 1 - ALPHA / len(items)
    low, high = t_interval(best.point, best.se, best.df, level)
    return [f"per setting and pair: {better} of {len(items)} with NBS better and {worse} with NBS worse by paired "
            "t-tests (seed variance, plus the test set's where shared), Holm-adjusted over the "
            f"{len(items)} at 5 %",
            f"largest effect: {best.point:+.3f} [{low:+.3f}, {high:+.3f}] ({method_label(method)} vs "
            f"{method_label(NBS_PAIRS[method])}, {setting_label(setting)}); the interval is simultaneous over "
            f"all {len(items)} pairs and settings (Bonferroni, {level:.4f}), so it holds for the selected maximum"]


def _page(results: dict[tuple[str, int], ClaimResult], verdicts: dict, robust_frame: pd.DataFrame,
          selected: pd.DataFrame, protocols: list[str], counts: dict, identical: dict[str, list[str]],
          main: pd.DataFrame, experiments: list[str], ablation: pd.DataFrame, field_section: list[str],
          field_missing: list[str]) -> str:
    lines = ["# Findings: the paper's claims against the runs", ""]
    differences = default_target_differences(main)
    if differences is None or differences:
        what = "; ".join(differences) if differences else "the default configuration could not be read"
        lines += [f"> **Not the default target.** This page was built from runs of another configuration ({what}). "
                  "Its verdicts describe these runs only, not the benchmark.", ""]
    lines += ["Generated by `fairbench report findings` from the run records (never edited by hand). "
              f"Experiments: {', '.join(experiments)}. Zeng et al., NeurIPS 2024; method and protocols: "
              "docs/method.md, docs/protocols.md (§6: the statistics of this page).", "",
              VERDICT_RULE, "",
              "Intervals: 95 % t-intervals. The unit is the seed within a setting (its methods share its "
              "initial weights and, under the standard protocol, its split), pooled over settings "
              "(Welch-Satterthwaite degrees of freedom). Where every seed scores one shared test set (paper "
              "protocol) the test set's variance, from its rows resampled within (group, label) cells, is "
              "added; where each seed draws its own test set (standard protocol) the seed spread already holds "
              "it. P(NBS better) is Agarwal et al.'s probability of improvement with DeLong's variance. "
              f"Metric values within {TIE_TOLERANCE:g} count as ties.",
              "", "Effects are in the metric's own units with their interval; the minimum detectable effect "
              "is for 80 % power at 5 % (two-sided); equivalence is two one-sided tests (TOST, 5 %) against the "
              "margins " + ", ".join(f"claim {n}: +-{m:g} {EFFECT_UNITS[n]}" for n, m in MARGINS.items()) + ".", ""]
    needs = _needs(selected) + field_missing
    if needs:
        lines += ["## What these runs cannot answer", ""] + [f"- {n}." for n in needs] + [""]
    lines += ["## Epoch selection", ""]
    for protocol in protocols:
        rules = sorted(selected.loc[selected["protocol"] == protocol, "selection"].unique())
        lines.append(f"- {protocol}: " + "; ".join(SELECTION_NOTES.get(r, r) for r in rules) + ".")
    numbers = sorted({n for _, n in results})
    lines += ["", "## Verdicts", ""]
    if not numbers:
        lines += ["No claim can be measured on these runs (see above).", ""]
    else:
        lines += ["| # | Claim | " + " | ".join(f"{p} protocol" for p in protocols) + " | robust |",
                  "|---|---|" + "---|" * len(protocols) + "---|"]
        for number in numbers:
            cells = [_cell(results[(p, number)], verdicts[(p, number)].verdict) if (p, number) in results else "–"
                     for p in protocols]
            rob = [f"{p}: {'yes' if robust(robust_frame, p, number)[0] else 'no'}" for p in protocols
                   if (p, number) in results and not robust_frame.empty]
            lines.append(f"| {number} | {CLAIM_TEXT[number]} | " + " | ".join(cells) + f" | {'; '.join(rob) or '–'} |")
    lines += ["", "## Evidence", ""]
    for number in numbers:
        lines += [f"### {number}. {CLAIM_TEXT[number]}", ""]
        for protocol in protocols:
            r = results.get((protocol, number))
            if r is None:
                continue
            v = verdicts[(protocol, number)]
            side = ">" if r.higher else "<"
            p_text = (f"Holm-adjusted p = {v.p_claim:.3g} (claimed side), {v.p_other:.3g} (other side)"
                      if np.isfinite(v.p_claim) else v.why)
            parts = [f"{r.name} = {_fmt(r.primary.point, *r.interval())}, claimed {side} {r.threshold:g} -> **{v.verdict}** ({p_text})",
                     _effect_line(r),
                     f"{len(r.per_setting)} setting(s), median {np.median(r.seeds):g} paired seeds, "
                     f"{r.runs - r.degenerate} of {r.runs} runs non-degenerate"]
            if number in (1, 2):
                parts += _pair_lines(r)
            if number == 3 and "before clipping" in r.extra:
                parts.append(f"before clipping the NBS alignment rate is {_est(r.extra['before clipping'])} (1 by "
                             "construction of the bargaining solution); the verdict judges the applied, after-"
                             "clipping direction")
            if number in (4, 5):
                parts.append("the threshold 0.5 is the weakest reading of the claim (most steps); the claim as "
                             "written needs 1")
            if not robust_frame.empty:
                is_robust, text = robust(robust_frame, protocol, number)
                parts.append(f"robustness: {'robust' if is_robust else 'not robust'} over the analysis choices "
                             f"({text})")
            lines.append(f"- **{protocol}**: " + "; ".join(parts) + ".")
        lines.append("")
    lines += ablation_lines(ablation, results, ablation_needs(selected), experiments)
    lines += field_section
    if not robust_frame.empty:
        lines += ["## Robustness to the analysis choices", "",
                  "Each claim's verdict under every combination of epoch rule, statistic and degenerate runs in "
                  "or out (docs/protocols.md §6); a claim is robust only when all agree. Figure: "
                  "figures/specification_curve.png.", ""]
        lines += robustness_markdown(robust_frame, protocols) + [""]
    lines += _weak_lines(selected, protocols, counts, identical)
    return "\n".join(lines) + "\n"


def _weak_lines(selected: pd.DataFrame, protocols: list[str], counts: dict,
                identical: dict[str, list[str]]) -> list[str]:
    lines = ["## Where the evidence is weak", ""]
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
    runs = selected.drop_duplicates("run_dir")
    n_runs = len(runs)
    missing = n_runs - len(counts)
    if missing:
        lines.append(f"- {missing} of {n_runs} selected runs have no predictions.npz: their degenerate test uses "
                     "cell counts rebuilt from metrics.csv; on a shared test set (paper protocol) their settings get "
                     "no test-set variance, so retrain them to include it.")
    for protocol in protocols:
        if identical.get(protocol):
            names = ", ".join(setting_label(s) for s in setting_order(identical[protocol]))
            lines.append(f"- {protocol} protocol: the three NBS variants are identical through all of stage 1 in "
                         f"{names}; claims 3-5 average the variants within each seed, so these runs count once.")
    seeds = selected.groupby(["protocol", "setting", "method"])["seed"].nunique()
    lines.append(f"- Seeds per (protocol, setting, method): {int(seeds.min())}-{int(seeds.max())}.")
    lines += _width_lines(selected, counts)
    reasons = runs["degenerate_reason"].value_counts()
    lines.append(f"- Degenerate runs at the selected epoch: {int(runs['degenerate'].sum())} of {n_runs}: "
                 f"{int(reasons.get('constant', 0))} {REASON_LABELS['constant']}, {int(reasons.get('chance', 0))} "
                 f"{REASON_LABELS['chance']}; {int((~runs['chance_tested'].astype(bool)).sum())} could not be "
                 "tested. They stay in the headline numbers; the robustness table leaves them out too "
                 "(tables/degenerate_runs.md).")
    if "paper" in protocols:
        lines.append("- The paper protocol selects its epoch on the test set (optimistic): the maximum of a "
                     "noisy seed-mean curve overstates every method's AUC; the robustness table shows the other "
                     "rules.")
    return lines


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
                   data_out: str | Path | None = None, html_out: str | Path | None = None,
                   figure_out: str | Path | None = None) -> list[Path]:
    """Write the page atomically, the specification-curve figure (``figure_out``, by default
    ``figures/specification_curve.png`` beside the page), and when asked its numbers as CSV (``data_out``,
    with the robustness table beside it as ``findings_robustness.csv`` and the bargaining ablation's per-setting
    table as ``findings_bargaining.csv``, that of NBS against the literature's baselines as ``findings_field.csv``)
    and the page as HTML for the
    Snakemake report (``html_out``); returns the paths."""
    from fairbench.reports.tables_html import markdown_to_html

    text, data, robust_frame, ablation, field = _build(frame, n_boot=n_boot, seed=seed, robustness=True)
    out = Path(out)
    protocols = [p for p in ("paper", "standard") if p in set(data["protocol"])]
    protocols += sorted(set(data["protocol"]) - set(protocols))
    figure = specification_curve(robust_frame, protocols, Path(figure_out) if figure_out else
                                 out.parent / "figures" / "specification_curve.png") if not robust_frame.empty \
        else None
    write_text_atomic(out, text)
    paths = [out] + ([figure] if figure else [])
    if data_out is not None:
        write_text_atomic(Path(data_out), data.to_csv(index=False, float_format="%.6g"))
        robust_path = Path(data_out).with_name("findings_robustness.csv")
        write_text_atomic(robust_path, robust_frame.to_csv(index=False, float_format="%.6g"))
        ablation_path = Path(data_out).with_name("findings_bargaining.csv")
        write_text_atomic(ablation_path, ablation.to_csv(index=False, float_format="%.6g"))
        field_path = Path(data_out).with_name("findings_field.csv")
        write_text_atomic(field_path, field.to_csv(index=False, float_format="%.6g"))
        paths += [Path(data_out), robust_path, ablation_path, field_path]
    if html_out is not None:
        write_text_atomic(Path(html_out), markdown_to_html(text, "Findings"))
        paths.append(Path(html_out))
    return paths
