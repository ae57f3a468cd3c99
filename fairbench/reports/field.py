"""NBS against the fairness literature's baselines on the findings page (docs/protocols.md §6, "Against the
field"): the registry's literature baselines (:func:`fairbench.registry.literature_baselines`: the gap
regularisers and adversarial debiasing, each at its lambda sweep's chosen point, and Nash-MTL and FairGrad
without meta-learning) against NBS.

Not claims of the paper, which compares NBS with meta-learning objectives only, so no direction is stated
in advance: a descriptive comparison with **two-sided** tests. Per protocol, baseline and metric (AUC,
Max-gAUCD, worst-group AUC; the bargaining ablation's metrics and margins), the effect is NBS minus the
baseline, paired within setting and seed (NBS: the mean over the registry's NBS variants within a seed),
pooled over settings, measured exactly as claims 1 and 7-12 (:func:`fairbench.reports.claims.paired_difference`:
95 % t-intervals, the shared test set's variance added under the paper protocol). Its verdict:

- **insufficient evidence** by the page's rule (:func:`fairbench.reports.verdicts.insufficient_evidence`);
- **NBS better** / **NBS worse**: the two-sided t-test of "no difference" rejects at 5 % after Holm's
  adjustment over every comparison of this section (its own family: claims 1-12 keep their verdicts);
- **within noise**: the interval covers 0; **not significant after Holm**: it does not, but the adjusted
  test does not reject;
- **depends on degenerate runs**: the comparison's runs include degenerate ones and the verdict without
  them (the same analysis with degenerate runs left out, Holm over that analysis) differs, so that a
  degenerate model (AUC 0.5, gap often 0) never carries a verdict, in particular never looks fairest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from fairbench.reports.bootstrap import load_selected_counts
from fairbench.reports.claims import ABLATION_METRICS, ClaimResult, paired_difference
from fairbench.reports.degenerate import DEGENERATE_MARK, flag_degenerate
from fairbench.reports.inference import equivalent, min_detectable_effect, one_sided_p
from fairbench.reports.labels import NBS_PAIRS, method_label, setting_label, setting_order
from fairbench.reports.selection import select_epochs
from fairbench.reports.stats import holm_bonferroni
from fairbench.reports.sweeps import SWEEP_RULE, lambda_text, prefer_chosen
from fairbench.reports.verdicts import ALPHA, insufficient_evidence

__all__ = ["FIELD_METRICS", "FRAME_COLUMNS", "POOLED", "compared_experiments", "field_experiments", "field_frame",
           "field_lines",
           "field_needs", "field_selection"]

#: The ``setting`` of the pooled rows of :func:`field_frame`.
POOLED = "pooled"
TITLE = "## NBS against the fairness literature's baselines"
#: Metrics compared: short name, higher is better, equivalence margin (the bargaining ablation's).
FIELD_METRICS = ABLATION_METRICS
BETTER, WORSE, NOISE, NOT_AFTER_HOLM = "NBS better", "NBS worse", "within noise", "not significant after Holm"
INSUFFICIENT, DEPENDS = "insufficient evidence", "depends on degenerate runs"
FRAME_COLUMNS = ["protocol", "baseline", "metric", "setting", "fair_lambda", "seeds", "effect", "ci_low",
                 "ci_high", "mde", "margin", "equivalent", "p_holm", "verdict", "verdict_all_runs",
                 "verdict_without_degenerate", "runs", "degenerate_nbs", "degenerate_baseline"]


def _baselines() -> list[str]:
    from fairbench.registry import literature_baselines

    return literature_baselines()


def _regularisers() -> tuple[str, ...]:
    from fairbench.registry import FAIRNESS_REGULARISERS

    return FAIRNESS_REGULARISERS


def field_experiments(frame: pd.DataFrame, chosen: Sequence[str]) -> list[str]:
    """The experiments outside ``chosen`` that ran a literature baseline (the lambda sweep's points, the
    standalone bargains), alphabetically: the section reads their runs beside ``chosen``'s NBS runs."""
    ran = frame.loc[frame["method"].isin(_baselines()), "experiment"]
    return sorted({str(e) for e in ran} - set(chosen))


def compared_experiments(frame: pd.DataFrame, order: Sequence[str]) -> list[str]:
    """The experiments of ``order`` that ran an NBS variant or a literature baseline (every point of a lambda
    sweep, chosen or not), in that order: what the section names as its sources."""
    ran = set(frame.loc[frame["method"].isin([*NBS_PAIRS, *_baselines()]), "experiment"])
    return [e for e in order if e in ran]


def field_selection(frame: pd.DataFrame, order: Sequence[str], selected: pd.DataFrame,
                    counts: Mapping[str, object]) -> tuple[pd.DataFrame, dict]:
    """The NBS variants of ``selected`` (the claims' runs at their selected epochs, flagged degenerate) beside
    the literature baselines' runs of the experiments ``order``, each lambda sweep reduced to its chosen point
    (:func:`~fairbench.reports.sweeps.prefer_chosen`), at their own protocol's epoch, flagged the same way;
    and the cell counts of both. Runs already in ``selected`` are reused, not selected again."""
    baselines = frame[frame["method"].isin(_baselines()) & frame["experiment"].isin(list(order))]
    nbs = selected[selected["method"].isin(list(NBS_PAIRS))]
    if baselines.empty:
        return nbs, dict(counts)
    runs = prefer_chosen(baselines, order)
    keep = set(runs["run_dir"])
    known = selected[selected["run_dir"].isin(keep)]
    fresh = runs[~runs["run_dir"].isin(set(known["run_dir"]))]
    parts, out_counts = [nbs, known], dict(counts)
    if not fresh.empty:
        picked = select_epochs(fresh)
        more = load_selected_counts(picked)
        parts.append(flag_degenerate(picked, more))
        out_counts.update(more)
    return pd.concat(parts, ignore_index=True), out_counts


def field_needs(selected: pd.DataFrame) -> list[str]:
    """What the section needs and the runs lack, one line each (none when every baseline and NBS ran)."""
    present = set(selected["method"])
    nbs = [m for m in NBS_PAIRS if m in present]
    lacking = [b for b in _baselines() if b not in present]
    if nbs and not lacking:
        return []
    if not nbs or len(lacking) == len(_baselines()):
        missing = ([] if nbs else list(NBS_PAIRS)) + (lacking if len(lacking) == len(_baselines()) else [])
        return ["the comparison of NBS with the fairness literature's baselines needs an NBS variant and a "
                "baseline run in one setting (the pipeline's lambda-sweep experiments train the regularisers, its "
                "bargaining experiment Nash-MTL and FairGrad); these runs lack "
                + ", ".join(f"{method_label(m)} ({m})" for m in missing)]
    return ["the comparison with the fairness literature's baselines leaves out, for lack of runs: "
            + ", ".join(f"{method_label(m)} ({m})" for m in lacking)]


def _two_sided_p(result: ClaimResult) -> float:
    e = result.effect
    return min(1.0, 2 * min(one_sided_p(e, 0.0, True), one_sided_p(e, 0.0, False)))


def _judge(results: Mapping[tuple[str, str, str], ClaimResult]) -> dict[tuple[str, str, str], tuple[str, float]]:
    """(protocol, baseline, metric) -> (verdict, Holm-adjusted two-sided p), Holm over every comparison with
    enough evidence (this section's family)."""
    why = {k: insufficient_evidence(r) for k, r in results.items()}
    out = {k: (INSUFFICIENT, float("nan")) for k in results if why[k]}
    tested = [k for k in results if not why[k]]
    adjusted = holm_bonferroni(np.array([_two_sided_p(results[k]) for k in tested], dtype=float))
    for k, p in zip(tested, adjusted):
        effect = results[k].effect
        low, high = effect.interval()
        if p < ALPHA:
            verdict = BETTER if (effect.point > 0) == FIELD_METRICS[k[2]][1] else WORSE
        else:
            verdict = NOISE if low <= 0.0 <= high else NOT_AFTER_HOLM
        out[k] = (verdict, float(p))
    return out


def _kind(verdict: str) -> str:
    """The verdicts that say the same thing: no difference shown, whether or not the raw interval covers 0."""
    return NOISE if verdict in (NOISE, NOT_AFTER_HOLM) else verdict


def _measure(sel: pd.DataFrame, counts: Mapping, protocols: Sequence[str], *, exclude_degenerate: bool, n_boot: int,
             seed: int) -> dict[tuple[str, str, str], ClaimResult]:
    out = {}
    for protocol in protocols:
        here = sel[sel["protocol"] == protocol]
        nbs = [m for m in NBS_PAIRS if m in set(here["method"])]
        for baseline in [b for b in _baselines() if b in set(here["method"])] if nbs else []:
            mine = here[here["method"].isin([*nbs, baseline])]
            runs = mine.drop_duplicates("run_dir")
            used = runs[~runs["degenerate"].astype(bool)] if exclude_degenerate else runs
            pairs = {m: baseline for m in nbs}
            for metric, (_, higher, _, _) in FIELD_METRICS.items():
                r = paired_difference(metric, higher, used, counts, pairs, n_boot=n_boot, seed=seed,
                                      protocol=protocol)
                if r is None:
                    continue
                r.runs, r.degenerate = len(runs), int(runs["degenerate"].astype(bool).sum())
                out[(protocol, baseline, metric)] = r
    return out


def _chosen_lambdas(sel: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    """(protocol, setting, regulariser) -> its runs' fair_lambda (the sweep's chosen point)."""
    if "fair_lambda" not in sel.columns:
        return {}
    regs = sel[sel["method"].isin(_regularisers())].drop_duplicates("run_dir")
    return {(str(p), str(s), str(m)): float(g["fair_lambda"].dropna().iloc[0])
            for (p, s, m), g in regs.groupby(["protocol", "setting", "method"]) if g["fair_lambda"].notna().any()}


def _degenerate(sel: pd.DataFrame, protocol: str, methods: Sequence[str], setting: str | None = None) -> str:
    runs = sel[(sel["protocol"] == protocol) & sel["method"].isin(list(methods))].drop_duplicates("run_dir")
    if setting is not None:
        runs = runs[runs["setting"] == setting]
    return f"{int(runs['degenerate'].astype(bool).sum())}/{len(runs)}"


def field_frame(selected: pd.DataFrame, counts: Mapping, protocols: Sequence[str], *, n_boot: int,
                seed: int) -> pd.DataFrame:
    """One row per (protocol, baseline, metric, setting), the pooled row first: NBS minus the baseline (mean
    paired difference, 95 % t-interval), MDE, TOST against the metric's margin, the chosen lambda (per
    setting), the degenerate runs of each side, and (pooled) the Holm-adjusted two-sided p and the verdict
    (module docstring) with its two ingredients: with every run, and without the degenerate ones."""
    if selected.empty or "degenerate" not in selected.columns:
        return pd.DataFrame(columns=FRAME_COLUMNS)
    kept = _measure(selected, counts, protocols, exclude_degenerate=False, n_boot=n_boot, seed=seed)
    left = _measure(selected, counts, protocols, exclude_degenerate=True, n_boot=n_boot, seed=seed)
    judged, judged_out = _judge(kept), _judge(left)
    lambdas = _chosen_lambdas(selected)
    nbs = list(NBS_PAIRS)
    rows = []
    for (protocol, baseline, metric), r in kept.items():
        verdict, p = judged[(protocol, baseline, metric)]
        without = judged_out.get((protocol, baseline, metric), (INSUFFICIENT, float("nan")))[0]
        final = DEPENDS if r.degenerate and verdict != INSUFFICIENT and _kind(verdict) != _kind(without) else verdict
        margin = FIELD_METRICS[metric][2]
        seeds = dict(zip(r.per_setting, r.seeds))
        base = {"protocol": protocol, "baseline": baseline, "metric": metric, "margin": margin, "runs": r.runs}
        rows.append({**base, **_numbers(r.effect, margin), "setting": POOLED, "fair_lambda": float("nan"),
                     "seeds": int(np.median(r.seeds)) if r.seeds else 0, "p_holm": p, "verdict": final,
                     "verdict_all_runs": verdict, "verdict_without_degenerate": without,
                     "degenerate_nbs": _degenerate(selected, protocol, nbs),
                     "degenerate_baseline": _degenerate(selected, protocol, [baseline])})
        for setting in setting_order(r.per_setting):
            rows.append({**base, **_numbers(r.per_setting[setting][1], margin), "setting": setting,
                         "fair_lambda": lambdas.get((protocol, setting, baseline), float("nan")),
                         "seeds": seeds[setting], "p_holm": float("nan"), "verdict": "", "verdict_all_runs": "",
                         "verdict_without_degenerate": "",
                         "degenerate_nbs": _degenerate(selected, protocol, nbs, setting),
                         "degenerate_baseline": _degenerate(selected, protocol, [baseline], setting)})
    return pd.DataFrame(rows, columns=FRAME_COLUMNS)


def _numbers(effect, margin: float) -> dict:  # noqa: ANN001 (an inference Estimate)
    low, high = effect.interval()
    return {"effect": effect.point, "ci_low": low, "ci_high": high, "mde": min_detectable_effect(effect),
            "equivalent": equivalent(effect, margin)}


def _ci(row: pd.Series) -> str:
    if not np.isfinite(row["effect"]):
        return "–"
    if not (np.isfinite(row["ci_low"]) and np.isfinite(row["ci_high"])):
        return f"{row['effect']:+.3f} [no interval]"
    return f"{row['effect']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"


def _tost(row: pd.Series) -> str:
    if row["equivalent"] is None or pd.isna(row["equivalent"]):
        return "no interval"
    return f"{'equivalent' if row['equivalent'] else 'not shown equivalent'} within +-{row['margin']:g}"


def _verdict(row: pd.Series) -> str:
    text = f"**{row['verdict']}**"
    if row["verdict"] == DEPENDS:
        text += f" ({row['verdict_all_runs']} with them, {row['verdict_without_degenerate']} without)"
    elif row["verdict"] == NOISE:
        text += " (the interval covers 0)"
    return text


def _lambda_lines(frame: pd.DataFrame) -> list[str]:
    """Per protocol: each regulariser's chosen lambda per setting, with its degenerate seeds."""
    here = frame[(frame["setting"] != POOLED) & frame["baseline"].isin(_regularisers())]
    here = here.drop_duplicates(["protocol", "baseline", "setting"])
    if here.empty:
        return []
    lines = [f"Each regulariser's lambda per setting, chosen on validation data: {SWEEP_RULE}. {DEGENERATE_MARK} k/n: "
             "k of its n runs degenerate at the selected epoch.", ""]
    for protocol, part in here.groupby("protocol", sort=False):
        regs = [b for b in _regularisers() if b in set(part["baseline"])]
        cells = {(r.setting, r.baseline): r for r in part.itertuples(index=False)}
        lines += [f"**{protocol} protocol**", "", "| setting | " + " | ".join(method_label(b) for b in regs) + " |",
                  "|---|" + "---|" * len(regs)]
        for setting in setting_order(part["setting"]):
            out = []
            for b in regs:
                r = cells.get((setting, b))
                if r is None:
                    out.append("–")
                    continue
                lam = "?" if pd.isna(r.fair_lambda) else lambda_text(float(r.fair_lambda))
                k = r.degenerate_baseline.split("/")[0]
                out.append(f"{lam}" + (f" {DEGENERATE_MARK} {r.degenerate_baseline}" if k != "0" else ""))
            lines.append(f"| {setting_label(setting)} | " + " | ".join(out) + " |")
        lines.append("")
    return lines


def field_lines(frame: pd.DataFrame, needs: Sequence[str], experiments: Sequence[str]) -> list[str]:
    """The page's section: what is compared and how, the pooled comparison per protocol, baseline and metric,
    the chosen lambdas; what the runs lack where nothing can be compared."""
    nbs = ", ".join(method_label(m) for m in NBS_PAIRS)
    baselines = ", ".join(method_label(b) for b in _baselines())
    margins = ", ".join(f"+-{m:g} {name}" for name, _, m, _ in FIELD_METRICS.values())
    tested = int(((frame["setting"] == POOLED) & (frame["verdict_all_runs"] != INSUFFICIENT)).sum()) \
        if not frame.empty else 0
    lines = [TITLE, "",
             "Not claims of the paper (which compares NBS with meta-learning objectives only), so no direction is "
             f"stated in advance. NBS (per seed the mean over {nbs}) minus each baseline ({baselines}; each "
             "regulariser at its lambda sweep's point chosen on validation data), paired within setting and seed "
             "on the same splits and initial weights, pooled over settings, as claims 1-2; 95 % t-intervals (the "
             "shared test set's variance added under the paper protocol). Verdicts: two-sided t-tests of no "
             f"difference, Holm-adjusted over this section's {tested} comparisons at 5 % (its own family: the verdicts "
             f"of claims 1-12 do not change): **{BETTER}** or **{WORSE}** when it rejects, **{NOISE}** when the "
             f"interval covers 0, **{NOT_AFTER_HOLM}** when it does not but the adjusted test does not reject, "
             f"**{INSUFFICIENT}** below the page's minimum, **{DEPENDS}** when a comparison with degenerate runs "
             "gets another verdict without them (a degenerate model never carries a verdict). TOST margins: "
             f"{margins}. Experiments: {', '.join(experiments)}.", ""]
    if frame.empty:
        lines += [f"Not measured: {n}." for n in needs] or ["Not measured: no setting has NBS and a baseline "
                                                            "paired by seed."]
        return lines + [""]
    lines += [f"- Also: {n}." for n in needs] + ([""] if needs else [])
    lines += ["| protocol | baseline | metric | NBS - baseline [95 % CI] | MDE | TOST (5 %) | Holm p | degenerate runs "
              "(NBS; baseline) | verdict |", "|---|---|---|---|---|---|---|---|---|"]
    for row in frame[frame["setting"] == POOLED].itertuples(index=False):
        s = pd.Series(row._asdict())
        mde = f"{row.mde:.3f}" if np.isfinite(row.mde) else "–"
        p = f"{row.p_holm:.3g}" if np.isfinite(row.p_holm) else "–"
        lines.append(f"| {row.protocol} | {method_label(row.baseline)} | {FIELD_METRICS[row.metric][0]} | {_ci(s)} | "
                     f"{mde} | {_tost(s)} | {p} | {row.degenerate_nbs}; {row.degenerate_baseline} | {_verdict(s)} |")
    lines += ["", "Positive differences favour NBS in AUC and worst-group AUC, negative ones in Max-gAUCD. MDE: the "
              "minimum detectable effect of the pooled difference (80 % power, 5 % two-sided); TOST: two one-sided "
              "tests at 5 % against the margin (no effect larger than it when equivalent). Per setting: "
              "aggregate/findings_field.csv.", ""]
    return lines + _lambda_lines(frame)
