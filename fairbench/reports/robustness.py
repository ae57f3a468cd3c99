"""Robustness of the findings to the analysis choices (a multiverse / specification-curve analysis:
Simonsohn, Simmons and Nelson, Nature Human Behaviour 2020).

Every claim under every protocol is judged under each combination of the defensible choices:

- **epoch rule**: selected on the test set (``test_seed_mean``, the reference's), by validation loss
  (``val_loss``), the last epoch (``last``), cross-fitted on halves of the test set (``cross_fitted``,
  :mod:`fairbench.reports.crossfit`; for a protocol only when every run of it has ``predictions.npz``,
  else the table says it cannot be computed);
- **statistic**: the probability of improvement (``poi``) or the paired difference (``diff``);
- **degenerate runs**: kept (``in``) or left out (``out``).

Claims 3-5 are stage-1 training diagnostics: they depend on the degenerate choice only (claims 1, 2, 6
and the bargaining ablation's 7-12 on every choice). A claim is **robust** when every choice gives the same
verdict.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from fairbench.reports.bootstrap import load_selected_counts
from fairbench.reports.claims import STATISTIC_CLAIMS, STATISTICS, ClaimResult, measure_claims
from fairbench.reports.crossfit import CROSS_FITTED, cross_fitted_selection
from fairbench.reports.degenerate import flag_degenerate
from fairbench.reports.figures import save_figure
from fairbench.reports.selection import select_epochs
from fairbench.reports.verdicts import judge

__all__ = ["EPOCH_RULES", "robustness_frame", "robustness_markdown", "specification_curve"]

EPOCH_RULES: tuple[str, ...] = ("test_seed_mean", "val_loss", "last", CROSS_FITTED)
DEGENERATE_CHOICES: tuple[str, ...] = ("in", "out")
SHORT = {"supported": "S", "contradicted": "C", "inconclusive": "I", "insufficient evidence": "–"}


def measure_all(main: pd.DataFrame, stage1: pd.DataFrame, protocols: Sequence[str], *, rule: str | None,
                statistic: str, exclude_degenerate: bool, selected: pd.DataFrame | None = None,
                counts: Mapping | None = None, n_boot: int, seed: int) -> dict[tuple[str, int], ClaimResult]:
    """(protocol, claim) -> result under one choice (``rule=None``: each protocol's own epoch rule)."""
    if selected is None:
        selected = select_epochs(main, rule)
        counts = load_selected_counts(selected)
        selected = flag_degenerate(selected, counts)
    out = {}
    for protocol in protocols:
        sel = selected[selected["protocol"] == protocol]
        st1 = stage1[stage1["protocol"] == protocol]
        if sel.empty:
            continue
        for number, result in measure_claims(sel, st1, counts or {}, statistic=statistic,
                                             exclude_degenerate=exclude_degenerate, n_boot=n_boot,
                                             seed=seed).items():
            out[(protocol, number)] = result
    return out


def robustness_frame(main: pd.DataFrame, stage1: pd.DataFrame, protocols: Sequence[str], *, n_boot: int,
                     seed: int = 0) -> pd.DataFrame:
    """One row per (epoch rule, statistic, degenerate choice, protocol, claim) with the statistic, its
    interval and the verdict (Holm over the claims and protocols of that choice)."""
    rows = []
    for rule in EPOCH_RULES:
        here = list(protocols)
        if rule == CROSS_FITTED:
            selected, counts, missing = cross_fitted_selection(main)
            runs = main.drop_duplicates("run_dir")
            lacking = runs[runs["run_dir"].isin(missing)]["protocol"].value_counts()
            lacking = {p: int(lacking.get(p, 0)) for p in protocols}
            for protocol in protocols:
                if lacking[protocol]:
                    total = int((runs["protocol"] == protocol).sum())
                    rows.append({"epoch_rule": rule, "statistic": "", "degenerate": "", "protocol": protocol,
                                 "claim": 0, "verdict": f"not available for the {protocol} protocol: "
                                 f"{lacking[protocol]} of its {total} runs lack predictions.npz"})
            here = [p for p in protocols if not lacking[p]]
            if not here:
                continue
            selected = selected[selected["protocol"].isin(here)]
        else:
            try:
                selected = select_epochs(main, rule)
            except ValueError as error:  # e.g. no validation loss recorded
                rows.append({"epoch_rule": rule, "statistic": "", "degenerate": "", "protocol": "", "claim": 0,
                             "verdict": f"not available: {error}"})
                continue
            counts = load_selected_counts(selected)
        selected = flag_degenerate(selected, counts)
        for statistic in STATISTICS:
            for degenerate in DEGENERATE_CHOICES:
                results = measure_all(main, stage1, here, rule=rule, statistic=statistic,
                                      exclude_degenerate=degenerate == "out", selected=selected, counts=counts,
                                      n_boot=n_boot, seed=seed)
                verdicts = judge(results)
                for (protocol, number), r in results.items():
                    if number not in STATISTIC_CLAIMS and statistic != STATISTICS[0]:
                        continue  # the stage-1 claims do not depend on the statistic: one row per choice
                    low, high = r.interval()
                    judged_by = r.statistic if number in STATISTIC_CLAIMS else "level"
                    rows.append({"epoch_rule": rule, "statistic": judged_by,
                                 "degenerate": degenerate, "protocol": protocol, "claim": number,
                                 "name": r.name, "value": r.primary.point, "ci_low": low, "ci_high": high,
                                 "threshold": r.threshold, "higher": r.higher,
                                 "verdict": verdicts[(protocol, number)].verdict})
    return _fill_unmeasured(pd.DataFrame(rows))


def _fill_unmeasured(frame: pd.DataFrame) -> pd.DataFrame:
    """A row for every (choice, protocol, claim) measured under some choice: where a choice leaves a claim
    nothing to measure (e.g. every run of a pair degenerate and left out), its verdict is "insufficient
    evidence" rather than a missing row."""
    judged = frame[frame["claim"] > 0] if not frame.empty else frame
    if judged.empty:
        return frame
    extra = []
    for (protocol, number), here in judged.groupby(["protocol", "claim"]):
        rules = judged.loc[judged["protocol"] == protocol, "epoch_rule"].unique()
        statistics = STATISTICS if number in STATISTIC_CLAIMS else ("level",)
        have = set(zip(here["epoch_rule"], here["statistic"], here["degenerate"]))
        for choice in itertools.product(rules, statistics, DEGENERATE_CHOICES):
            if choice not in have:
                extra.append({"epoch_rule": choice[0], "statistic": choice[1], "degenerate": choice[2],
                              "protocol": protocol, "claim": number, "name": "nothing left to measure",
                              "verdict": "insufficient evidence"})
    return pd.concat([frame, pd.DataFrame(extra)], ignore_index=True) if extra else frame


def robust(frame: pd.DataFrame, protocol: str, number: int) -> tuple[bool, str]:
    """Whether every choice gives one verdict for the claim, and the verdicts with their counts."""
    here = frame[(frame["protocol"] == protocol) & (frame["claim"] == number)]
    counts = here["verdict"].value_counts()
    text = ", ".join(f"{v} {n}/{len(here)}" for v, n in counts.items())
    return len(counts) == 1, text


def robustness_markdown(frame: pd.DataFrame, protocols: Sequence[str]) -> list[str]:
    """The table: one row per choice, one column per (claim, protocol), a letter per verdict."""
    ok = frame[frame["claim"] > 0]
    if ok.empty:
        return ["No analysis choice could be evaluated."]
    claims = sorted(ok["claim"].unique())
    cols = [(p, c) for c in claims for p in protocols]
    lines = ["| epoch rule | statistic | degenerate | " + " | ".join(f"{c} {p}" for p, c in cols) + " |",
             "|---|---|---|" + "---|" * len(cols)]
    for (rule, statistic, degenerate), group in ok.groupby(["epoch_rule", "statistic", "degenerate"], sort=False):
        if statistic == "level":
            continue
        by = {(r.protocol, r.claim): r.verdict for r in group.itertuples()}
        level = ok[(ok["epoch_rule"] == rule) & (ok["statistic"] == "level") & (ok["degenerate"] == degenerate)]
        by.update({(r.protocol, r.claim): r.verdict for r in level.itertuples()})
        lines.append(f"| {rule} | {statistic} | {degenerate} | "
                     + " | ".join(SHORT.get(by.get(k, ""), "n/a") for k in cols) + " |")
    lines += ["", "S supported, C contradicted, I inconclusive, – insufficient evidence. Claims 3-5 (stage-1 "
              "diagnostics) do not depend on the epoch rule or the statistic."]
    for row in frame[frame["claim"] == 0].itertuples():
        lines.append(f"Epoch rule {row.epoch_rule}: {row.verdict}.")
    return lines


def specification_curve(frame: pd.DataFrame, protocols: Sequence[str], out: str | Path) -> Path | None:
    """One panel per (claim, protocol): the statistic minus its threshold (signed so that the claimed side
    is up) with its 95 % interval under every choice, sorted, coloured by verdict."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = frame[(frame["claim"] > 0)].dropna(subset=["value"])
    if ok.empty:
        return None
    claims = sorted(ok["claim"].unique())
    colours = {"supported": "tab:green", "contradicted": "tab:red", "inconclusive": "tab:gray",
               "insufficient evidence": "tab:orange"}
    fig, axes = plt.subplots(len(claims), len(protocols), figsize=(4.2 * len(protocols), 2.0 * len(claims)),
                             squeeze=False)
    for i, number in enumerate(claims):
        for j, protocol in enumerate(protocols):
            ax = axes[i][j]
            here = ok[(ok["claim"] == number) & (ok["protocol"] == protocol)].copy()
            if here.empty:
                ax.set_axis_off()
                continue
            sign = here["higher"].map(lambda h: 1.0 if h else -1.0)
            here["y"] = sign * (here["value"] - here["threshold"])
            here["lo"] = sign * (here["ci_low"] - here["threshold"])
            here["hi"] = sign * (here["ci_high"] - here["threshold"])
            here["lo"], here["hi"] = here[["lo", "hi"]].min(axis=1), here[["lo", "hi"]].max(axis=1)
            here = here.sort_values("y").reset_index(drop=True)
            for k, r in here.iterrows():
                ax.errorbar(k, r["y"], yerr=[[r["y"] - r["lo"]], [r["hi"] - r["y"]]], fmt="o", ms=3,
                            color=colours.get(r["verdict"], "black"))
            ax.axhline(0.0, color="black", lw=0.8)
            ax.set_xticks(range(len(here)))
            ax.set_xticklabels([f"{r.epoch_rule[:4]}/{r.statistic}/{r.degenerate}" for r in here.itertuples()],
                               rotation=90, fontsize=5)
            ax.set_title(f"claim {number}, {protocol}", fontsize=8)
            ax.tick_params(axis="y", labelsize=6)
    fig.supylabel("statistic - threshold (claimed side up)", fontsize=8)
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=v) for v, c in colours.items()]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False,
               title="markers: the statistic under one analysis choice (epoch rule/statistic/degenerate runs), "
                     "bars: its 95 % interval, colour: that choice's verdict", title_fontsize=7)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return save_figure(fig, out.with_suffix(""))[0]
