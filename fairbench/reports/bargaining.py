"""The bargaining ablation on the findings page (docs/method.md, "The bargaining ablation"): bargaining over
hypergradients (NBS) vs over training-loss gradients (Nash-MTL) vs no bargaining.

The numbers are claims 7-12 of :mod:`fairbench.reports.claims` (paired within setting and seed, averaged
over the objectives within a seed, pooled over settings; t-intervals with the shared test set's variance
where the seeds share one), judged with the page's other claims (:mod:`fairbench.reports.verdicts`). This
module picks the runs they need, says what is missing, and lays them out: pooled per protocol, and per
setting (the table also written as CSV beside the page's numbers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from fairbench.reports.claims import ABLATION_CLAIMS, ABLATION_CONTRASTS, ABLATION_METRICS, MARGINS, ClaimResult
from fairbench.reports.inference import Estimate, equivalent, min_detectable_effect
from fairbench.reports.labels import method_label, setting_label, setting_order

__all__ = ["POOLED", "ablation_experiments", "ablation_frame", "ablation_lines", "ablation_needs", "diff_verdicts"]

#: The ``setting`` of the pooled rows of :func:`ablation_frame`.
POOLED = "pooled"
TITLE = "## The bargaining ablation: hypergradients (NBS) vs training-loss gradients (Nash-MTL) vs no bargaining"
FRAME_COLUMNS = ["protocol", "contrast", "metric", "setting", "seeds", "effect", "ci_low", "ci_high", "mde",
                 "margin", "equivalent", "claim", "verdict", "verdict_diff"]


def _triples() -> list:
    from fairbench.registry import bargaining_triples

    return bargaining_triples()


def ablation_experiments(frame: pd.DataFrame, chosen: Sequence[str]) -> list[str]:
    """The experiments outside ``chosen`` that ran a training-gradient bargaining method of the registry's
    triples (``nash_mtl_ltr``, ...), alphabetically: the page reads their runs beside ``chosen``'s."""
    methods = {t.training_gradient for t in _triples()}
    ran = frame.loc[frame["method"].isin(methods), "experiment"]
    return sorted({str(e) for e in ran} - set(chosen))


def ablation_needs(frame: pd.DataFrame) -> list[str]:
    """What the ablation needs and the runs lack, one line each (none when every triple ran)."""
    triples, present = _triples(), set(frame["method"])
    lacking = {t.objective: [m for m in (t.one_stage, t.hypergradient, t.training_gradient) if m not in present]
               for t in triples}
    if not any(lacking.values()):
        return []
    text = "; ".join(f"{method_label(o)}: " + ", ".join(f"{method_label(m)} ({m})" for m in missing)
                     for o, missing in lacking.items() if missing)
    measurable = any(not set(_contrast(t, c)) - present for t in triples for c in ABLATION_CONTRASTS)
    if not measurable:
        return [f"the bargaining ablation (claims {min(ABLATION_CLAIMS)}-{max(ABLATION_CLAIMS)}) needs, for an "
                "objective, its runs without bargaining, with NBS and with Nash-MTL in one setting (the pipeline's "
                f"bargaining experiment trains the Nash-MTL ones); these runs lack {text}"]
    return [f"the bargaining ablation leaves out, for lack of runs: {text}"]


def _contrast(triple, contrast: str) -> tuple[str, str]:  # noqa: ANN001 (a registry BargainingTriple)
    a, b = ABLATION_CONTRASTS[contrast]
    return getattr(triple, a), getattr(triple, b)


def _row(protocol: str, number: int, setting: str, seeds: int, effect: Estimate, verdict: str,
         verdict_diff: str = "") -> dict:
    contrast, metric = ABLATION_CLAIMS[number]
    low, high = effect.interval()
    return {"protocol": protocol, "contrast": contrast, "metric": metric, "setting": setting, "seeds": seeds,
            "effect": effect.point, "ci_low": low, "ci_high": high, "mde": min_detectable_effect(effect),
            "margin": MARGINS[number], "equivalent": equivalent(effect, MARGINS[number]), "claim": number,
            "verdict": verdict, "verdict_diff": verdict_diff}


def diff_verdicts(robust_frame: pd.DataFrame, own_rules: Mapping[str, str]) -> dict[tuple[str, int], str]:
    """(protocol, claim) -> the verdict of the paired difference (statistic ``diff``, every run kept) under
    the protocol's own epoch rule, read from the robustness table (Holm over that choice's claims)."""
    if robust_frame.empty or "statistic" not in robust_frame:
        return {}
    here = robust_frame[(robust_frame["statistic"] == "diff") & (robust_frame["degenerate"] == "in")
                        & robust_frame["claim"].isin(list(ABLATION_CLAIMS))]
    return {(str(r.protocol), int(r.claim)): str(r.verdict) for r in here.itertuples(index=False)
            if own_rules.get(str(r.protocol)) == r.epoch_rule}


def ablation_frame(results: Mapping[tuple[str, int], ClaimResult], verdicts: Mapping[tuple[str, int], object],
                   protocols: Sequence[str], by_difference: Mapping[tuple[str, int], str] | None = None
                   ) -> pd.DataFrame:
    """One row per (protocol, contrast, metric, setting), the pooled row first: the mean paired difference
    with its 95 % t-interval, the minimum detectable effect, TOST against the claim's margin, and (pooled)
    the claim's verdict on the page's statistic and on the paired difference (``by_difference``,
    :func:`diff_verdicts`)."""
    by_difference = by_difference or {}
    rows = []
    for protocol in protocols:
        for number in ABLATION_CLAIMS:
            r = results.get((protocol, number))
            if r is None:
                continue
            rows.append(_row(protocol, number, POOLED, int(np.median(r.seeds)) if r.seeds else 0, r.effect,
                             verdicts[(protocol, number)].verdict, by_difference.get((protocol, number), "")))
            seeds = dict(zip(r.per_setting, r.seeds))
            for setting in setting_order(r.per_setting):
                rows.append(_row(protocol, number, setting, seeds[setting], r.per_setting[setting][1], ""))
    return pd.DataFrame(rows, columns=FRAME_COLUMNS)


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


def ablation_lines(frame: pd.DataFrame, results: Mapping[tuple[str, int], ClaimResult], needs: Sequence[str],
                   experiments: Sequence[str]) -> list[str]:
    """The page's section: what is compared, the pooled answer per protocol and the per-setting table; what the
    runs lack where the ablation cannot be measured."""
    lines = [TITLE, ""]
    first, last = min(ABLATION_CLAIMS), max(ABLATION_CLAIMS)
    triples = "; ".join(" / ".join(method_label(m) for m in (t.one_stage, t.hypergradient, t.training_gradient))
                        for t in _triples())
    lines += [f"Claims {first}-{last}, not claims of the paper (docs/method.md, \"The bargaining ablation\"): per "
              f"objective, no bargaining / bargaining over hypergradients / over training-loss gradients ({triples}), "
              "at equal compute. Differences are paired within setting and seed, averaged over the objectives "
              "within a seed, and pooled over settings, as claims 1 and 2; the intervals are 95 % t-intervals "
              "(the shared test set's variance added under the paper protocol); the verdicts are those of the "
              f"table above, Holm-adjusted within the ablation's own family (claims 7-12 under every protocol). Experiments: {', '.join(experiments)}.", ""]
    if frame.empty:
        lines += [f"Not measured: {n}." for n in needs] or ["Not measured: no setting has the paired runs."]
        return lines + [""]
    lines += [f"- Also: {n}." for n in needs] + ([""] if needs else [])
    lines += ["| protocol | contrast | metric | effect [95 % CI] | MDE | TOST (5 %) | verdict on the difference | "
              "statistic | verdict |", "|---|---|---|---|---|---|---|---|---|"]
    pooled = frame[frame["setting"] == POOLED]
    for row in pooled.itertuples(index=False):
        r = results[(row.protocol, row.claim)]
        low, high = r.interval()
        statistic = f"{r.name} = {r.primary.point:.2f} [{low:.2f}, {high:.2f}]" if np.isfinite(low) else \
            f"{r.name} = {r.primary.point:.2f} [no interval]"
        s = pd.Series(row._asdict())
        mde = f"{row.mde:.3f}" if np.isfinite(row.mde) else "–"
        lines.append(f"| {row.protocol} | {row.contrast} | {ABLATION_METRICS[row.metric][0]} | {_ci(s)} | {mde} | "
                     f"{_tost(s)} | {row.verdict_diff or '–'} | {statistic} | **{row.verdict}** |")
    lines += ["", "MDE: the minimum detectable effect of the pooled difference (80 % power, 5 % two-sided); TOST: "
              "two one-sided tests at 5 % against the margin (no effect larger than it when equivalent); verdict "
              "on the difference: the same rule applied to the paired difference itself (> 0, or < 0 for "
              "Max-gAUCD; the robustness table's statistic diff under the protocol's own epoch rule, every run "
              "kept); statistic and verdict: the page's headline statistic, the probability of improvement, as "
              "for claims 1 and 2. "
              "Per setting (mean paired difference [95 % t-interval], seeds paired):", ""]
    metrics = list(ABLATION_METRICS)
    columns = [(c, m) for c in ABLATION_CONTRASTS for m in metrics]
    for protocol, here in frame[frame["setting"] != POOLED].groupby("protocol", sort=False):
        cells = {(r.setting, r.contrast, r.metric): r for r in here.itertuples(index=False)}
        lines += [f"**{protocol} protocol**", "",
                  "| setting | " + " | ".join(f"{c}: {ABLATION_METRICS[m][0]}" for c, m in columns) + " |",
                  "|---|" + "---|" * len(columns)]
        for setting in setting_order(here["setting"]):
            out = []
            for c, m in columns:
                r = cells.get((setting, c, m))
                out.append("–" if r is None else _ci(pd.Series(r._asdict())) + f" (n={r.seeds})")
            lines.append(f"| {setting_label(setting)} | " + " | ".join(out) + " |")
        lines.append("")
    return lines
