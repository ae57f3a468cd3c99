"""The paper's six claims measured on selected runs: each claim's named statistic and its effect in the
metric's own units, as :class:`~fairbench.reports.inference.Estimate` per setting and pooled.

The unit is the **seed** within a setting: the NBS variants and their one-stage counterparts of one
seed share its initial weights (and under the standard protocol its split), so every per-seed quantity
averages over the pairs of that seed first. Identical runs (the three NBS variants coincide through stage
1 in most settings) are therefore counted once, as one seed, never as three independent draws. Where every
run of a setting scored one shared test set (the paper protocol), the test-set variance (rows resampled
within (group, label) cells, seeds held fixed, one draw shared by every run) is added
(:mod:`fairbench.reports.inference`).

Claims (Zeng et al., NeurIPS 2024; docs/method.md), each with its statistic and up-front threshold:

1. overall AUC improves: P(NBS better than its one-stage counterpart) > 0.5 (Agarwal et al. 2021);
   effect: NBS - one-stage AUC;
2. disparity (Max-gAUCD) falls: P(NBS better) > 0.5; effect: NBS - one-stage Max-gAUCD (< 0);
3. bargaining resolves conflicts in stage 1: the **applied** (after clipping) alignment rate of NBS,
   the share of stage-1 batches whose applied direction improves every validation cell, > 0.5 (most
   batches); before clipping it is 1 by construction of the bargaining solution and is only reported;
   effect: NBS - one-stage applied alignment rate;
4. each NBS step is a Pareto improvement: the stage-1 share of NBS steps that lower every validation
   cell's loss > 0.5; "each" would need 1, so 0.5 (most steps) is the weakest reading: a claim that fails
   it fails every stricter one; effect: NBS - one-stage share;
5. the validation loss improves monotonically: the share of stage-1 epochs whose mean validation cell loss
   does not rise > 0.5, the same weakest reading; effect: NBS - one-stage share;
6. one-stage methods are unreliable across fairness notions: per seed, over the pairs and four notions,
   P(NBS fairer than ERM) - P(one-stage fairer than ERM) > 0 (a mean of per-seed scores, a smooth
   estimand); effect: NBS - one-stage fairness, signed so that positive is fairer, in AUC units.

The bargaining ablation (docs/method.md, "The bargaining ablation"; not claims of the paper): for each
registered objective the registry's triple (:func:`fairbench.registry.bargaining_triples`) gives the method
without bargaining (``ltr``), with bargaining over hypergradients (``nbs_ltr``, NBS) and with bargaining over
training-loss gradients (``nash_mtl_ltr``, Nash-MTL). Two contrasts, NBS vs Nash-MTL and Nash-MTL vs
one-stage, each on AUC, Max-gAUCD and worst-group AUC, judged exactly as claims 1 and 2 (paired within
setting and seed, averaged over the objectives within a seed, pooled over settings):

7-9. NBS beats Nash-MTL: P(NBS better) > 0.5; effect: NBS - Nash-MTL AUC (> 0), Max-gAUCD (< 0),
   worst-group AUC (> 0);
10-12. Nash-MTL beats the one-stage objective: the same with Nash-MTL - one-stage.

Statistic ``"diff"`` judges claims 1, 2, 6 and 7-12 on the effect instead (> 0, < 0, > 0; the ablation's
by its metric's direction).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fairbench.reports import bootstrap as bs
from fairbench.reports.inference import Estimate, better_score, mean_estimate, poi_estimate, pool
from fairbench.reports.stats import NBS_PAIRS
from fairbench.reports.tables import ALIGNMENT_WINDOW, _stage1_rows

__all__ = ["ABLATION_CLAIMS", "ABLATION_CONTRASTS", "ABLATION_METRICS", "CLAIM_TEXT", "FAIRNESS_NOTIONS", "MARGINS",
           "ClaimResult", "ROW_DRAWS", "STATISTICS", "STATISTIC_CLAIMS", "THRESHOLDS", "claim_methods",
           "contrast_pairs", "measure_claims", "paired_difference"]

STATISTICS: tuple[str, ...] = ("poi", "diff")
#: Row-bootstrap draws for the test-set variance of a shared test set.
ROW_DRAWS = 1000
CLAIM_TEXT: dict[int, str] = {
    1: "The two-stage method improves overall performance over its one-stage counterpart (up to 10 %).",
    2: "The two-stage method reduces disparity (Max-gAUCD) compared with its one-stage counterpart (up to 67 %).",
    3: "Bargaining resolves hypergradient conflicts in stage 1.",
    4: "Each NBS step is a Pareto improvement on the validation cells.",
    5: "The validation loss improves monotonically.",
    6: "One-stage methods are unreliable across fairness notions (the two-stage method is not).",
}
#: Per claim and statistic: (name, threshold, claimed side is higher).
THRESHOLDS: dict[tuple[int, str], tuple[str, float, bool]] = {
    (1, "poi"): ("P(NBS AUC > one-stage AUC)", 0.5, True),
    (1, "diff"): ("AUC, NBS - one-stage", 0.0, True),
    (2, "poi"): ("P(NBS Max-gAUCD < one-stage Max-gAUCD)", 0.5, True),
    (2, "diff"): ("Max-gAUCD, NBS - one-stage", 0.0, False),
    (3, "level"): ("stage-1 applied (after clipping) alignment rate of NBS", 0.5, True),
    (4, "level"): ("stage-1 share of NBS steps lowering every validation cell's loss", 0.5, True),
    (5, "level"): ("stage-1 share of NBS epochs whose mean validation loss does not rise", 0.5, True),
    (6, "poi"): ("P(NBS fairer than ERM) - P(one-stage fairer than ERM), per seed", 0.0, True),
    (6, "diff"): ("fairness, NBS - one-stage (positive: fairer), mean over notions", 0.0, True),
}
#: Range of each bounded statistic.
BOUNDS: dict[tuple[int, str], tuple[float, float]] = {
    (1, "poi"): (0.0, 1.0), (2, "poi"): (0.0, 1.0), (6, "poi"): (-1.0, 1.0), (3, "level"): (0.0, 1.0),
    (4, "level"): (0.0, 1.0), (5, "level"): (0.0, 1.0)}
#: Equivalence margins (TOST) of each claim's effect, in its units.
MARGINS: dict[int, float] = {1: 0.01, 2: 0.02, 3: 0.05, 4: 0.05, 5: 0.05, 6: 0.02}
EFFECT_UNITS: dict[int, str] = {1: "AUC", 2: "Max-gAUCD", 3: "alignment rate", 4: "share of steps",
                                5: "share of epochs", 6: "AUC units"}
#: The bargaining ablation's contrasts: name -> (compared role, baseline role) of a registry triple
#: (:class:`fairbench.registry.BargainingTriple`), and each role's name in the claims' text.
ABLATION_CONTRASTS: dict[str, tuple[str, str]] = {"NBS - Nash-MTL": ("hypergradient", "training_gradient"),
                                                 "Nash-MTL - one-stage": ("training_gradient", "one_stage")}
ROLE_TEXT: dict[str, tuple[str, str]] = {
    "hypergradient": ("NBS", "bargaining over hypergradients (NBS)"),
    "training_gradient": ("Nash-MTL", "bargaining over training-loss gradients (Nash-MTL)"),
    "one_stage": ("one-stage", "no bargaining (the one-stage objective)")}
#: The ablation's metrics: short name, whether higher is better, equivalence margin (AUC as claim 1,
#: Max-gAUCD as claim 2, worst-group AUC as claim 6's fairness margin) and the claim's verb.
ABLATION_METRICS: dict[str, tuple[str, bool, float, str]] = {
    "auc": ("AUC", True, 0.01, "improves overall AUC over"),
    "group_auc_gap": ("Max-gAUCD", False, 0.02, "reduces disparity (Max-gAUCD) compared with"),
    "worst_group_auc": ("worst-group AUC", True, 0.02, "raises the worst-group AUC over")}
#: Claims 7-12: number -> (contrast, metric).
ABLATION_CLAIMS: dict[int, tuple[str, str]] = {
    7 + i: pair for i, pair in enumerate(itertools.product(ABLATION_CONTRASTS, ABLATION_METRICS))}
#: The claims judged on test metrics of paired runs: they depend on the statistic and the epoch rule.
STATISTIC_CLAIMS: tuple[int, ...] = (1, 2, 6, *ABLATION_CLAIMS)


def _ablation_registry() -> None:
    """Text, thresholds, bounds, margins and units of claims 7-12, from :data:`ABLATION_CLAIMS`."""
    for number, (contrast, metric) in ABLATION_CLAIMS.items():
        (a_short, a_long), (b_short, b_long) = (ROLE_TEXT[role] for role in ABLATION_CONTRASTS[contrast])
        name, higher, margin, verb = ABLATION_METRICS[metric]
        CLAIM_TEXT[number] = f"{a_long[0].upper() + a_long[1:]} {verb} {b_long}."
        THRESHOLDS[(number, "poi")] = (f"P({a_short} {name} {'>' if higher else '<'} {b_short} {name})", 0.5, True)
        THRESHOLDS[(number, "diff")] = (f"{name}, {a_short} - {b_short}", 0.0, higher)
        BOUNDS[(number, "poi")] = (0.0, 1.0)
        MARGINS[number] = margin
        EFFECT_UNITS[number] = name


_ablation_registry()

#: Fairness notions of claim 6 and whether higher is fairer.
FAIRNESS_NOTIONS: dict[str, bool] = {"group_auc_gap": False, "worst_group_auc": True, "tpr_gap": False,
                                     "fpr_gap": False}


@dataclass
class ClaimResult:
    """One claim under one protocol and analysis choice: the statistic, the effect, per setting and pooled."""

    number: int
    statistic: str
    primary: Estimate
    effect: Estimate
    per_setting: dict[str, tuple[Estimate, Estimate]] = field(default_factory=dict)
    per_pair: dict[tuple[str, str], Estimate] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)
    runs: int = 0
    degenerate: int = 0
    extra: dict[str, Estimate] = field(default_factory=dict)

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """The primary statistic's t-interval, cut to the statistic's range (a probability lies in [0, 1],
        a difference of two in [-1, 1]); cutting keeps the coverage and the point inside."""
        low, high = self.primary.interval(level)
        lo_b, hi_b = BOUNDS.get((self.number, self.statistic), (-np.inf, np.inf))
        return max(low, lo_b), min(high, hi_b)

    @property
    def name(self) -> str:
        return THRESHOLDS[(self.number, self.statistic)][0]

    @property
    def threshold(self) -> float:
        return THRESHOLDS[(self.number, self.statistic)][1]

    @property
    def higher(self) -> bool:
        return THRESHOLDS[(self.number, self.statistic)][2]


def _shared_draws(runs: pd.DataFrame, counts: Mapping[str, bs.CellCounts], rng: np.random.Generator,
                  n_boot: int) -> dict[str, dict[str, np.ndarray]] | None:
    """run_dir -> metric -> (n_boot,) values on a resampled test set, one draw of row multiplicities shared
    by every run; None unless every run has counts for one shared test set."""
    dirs = list(runs["run_dir"].unique())
    units = bs.units_of(counts, dirs)
    if units is None or not bs.shares_test_set(units):
        return None
    idx = np.tile(np.arange(len(units)), (n_boot, 1))
    correct, total = bs.resample_counts(units, idx, rng)
    metrics = bs.metrics_from_counts(correct, total)
    return {d: {m: v[:, i] for m, v in metrics.items()} for i, d in enumerate(dirs)}


class _Setting:
    """One setting's runs by method and seed, with the test-set draws where they apply."""

    def __init__(self, group: pd.DataFrame, methods: Sequence[str], draws: dict | None) -> None:
        by = {m: g.drop_duplicates("seed").set_index("seed") for m, g in group.groupby("method") if m in methods}
        self.seeds = sorted(set.intersection(*(set(g.index) for g in by.values()))) if len(by) == len(methods) else []
        self.by, self.draws = by, draws

    def values(self, method: str, metric: str) -> np.ndarray:
        return self.by[method].loc[self.seeds, metric].to_numpy(dtype=float)

    def drawn(self, method: str, metric: str) -> np.ndarray | None:
        """(n_boot, n_seeds) on resampled test sets, or None."""
        if self.draws is None or metric not in bs.COUNT_METRICS:
            return None
        return np.stack([self.draws[d][metric] for d in self.by[method].loc[self.seeds, "run_dir"]], axis=1)

    def estimate(self, per_seed: Callable[[Callable[[str, str], np.ndarray]], np.ndarray]) -> Estimate:
        """Mean of ``per_seed(get)`` over seeds (``get(method, metric)`` gives per-seed values), plus the
        test-set variance of that mean where the draws exist."""
        observed = per_seed(self.values)
        row_var = 0.0
        if self.draws is not None:
            drawn = {}

            def get(method: str, metric: str) -> np.ndarray:
                d = self.drawn(method, metric)
                return np.broadcast_to(self.values(method, metric), (self._n_boot(), len(self.seeds))) if d is None else d

            drawn = per_seed(get)
            row_var = float(np.nanvar(np.nanmean(drawn, axis=-1), ddof=1))
        return mean_estimate(observed, row_var)

    def _n_boot(self) -> int:
        first = next(iter(self.draws.values()))  # type: ignore[union-attr]
        return int(next(iter(first.values())).shape[0])


def _signed(metric: str, higher: bool, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a - b) if higher else (b - a)


def _settings(sel: pd.DataFrame, methods: Sequence[str], counts: Mapping[str, bs.CellCounts], n_boot: int,
              seed: int, protocol: str) -> dict[str, _Setting]:
    out = {}
    for setting, group in sel.groupby("setting", sort=True):
        here = group[group["method"].isin(list(methods))]
        draws = _shared_draws(here, counts, bs.key_rng(seed, "claims-rows", protocol, setting), n_boot) \
            if not here.empty else None
        s = _Setting(here, methods, draws)
        if s.seeds:
            out[str(setting)] = s
    return out


def contrast_pairs(contrast: str) -> dict[str, str]:
    """Compared method -> its baseline for one of :data:`ABLATION_CONTRASTS`, one pair per registry triple
    (``"NBS - Nash-MTL"``: ``nbs_ltr`` -> ``nash_mtl_ltr``, ...)."""
    from fairbench.registry import bargaining_triples

    a, b = ABLATION_CONTRASTS[contrast]
    return {getattr(t, a): getattr(t, b) for t in bargaining_triples()}


def claim_methods(number: int) -> dict[str, str]:
    """The pairs (compared method -> baseline) a paired claim compares: the NBS pairs, or a contrast's."""
    return contrast_pairs(ABLATION_CLAIMS[number][0]) if number in ABLATION_CLAIMS else dict(NBS_PAIRS)


def _pairs_in(sel: pd.DataFrame, pairs: Mapping[str, str] = NBS_PAIRS) -> dict[str, str]:
    present = set(sel["method"])
    return {a: b for a, b in pairs.items() if a in present and b in present}


def _test_claim(number: int, metric: str, higher: bool, sel: pd.DataFrame, counts: Mapping[str, bs.CellCounts],
                statistic: str, n_boot: int, seed: int, protocol: str,
                pairs: Mapping[str, str] = NBS_PAIRS) -> ClaimResult | None:
    """Claims 1, 2 and 7-12: P(compared method better than its baseline) (DeLong variance) and the paired
    difference, per setting (averaged over the pairs within a seed) and pooled."""
    pairs = _pairs_in(sel, pairs)
    if not pairs or metric not in sel.columns:
        return None
    methods = list(dict.fromkeys([*pairs, *pairs.values()]))  # a baseline shared by several pairs once
    settings = _settings(sel, methods, counts, n_boot, seed, protocol)
    if not settings:
        return None
    per_setting, per_pair, seeds = {}, {}, []
    for name, s in settings.items():
        effect = s.estimate(lambda get: np.mean([get(a, metric) - get(b, metric) for a, b in pairs.items()], axis=0))
        pois = []
        for a, b in pairs.items():
            xd, yd = s.drawn(a, metric), s.drawn(b, metric)
            row_var = 0.0 if xd is None else float(np.nanvar(
                bs.probability_of_improvement(xd, yd, higher=higher), ddof=1))
            pois.append(poi_estimate(s.values(a, metric), s.values(b, metric), higher, row_var))
            per_pair[(name, a)] = s.estimate(lambda get, a=a, b=b: get(a, metric) - get(b, metric))
        # the pairs share their seeds: the mean of their standard errors bounds the average's from above
        poi = Estimate(float(np.mean([p.point for p in pois])), float(np.mean([p.se for p in pois])),
                       float(min(p.df for p in pois)), min(p.n for p in pois))
        per_setting[name] = (poi if statistic == "poi" else effect, effect)
        seeds.append(len(s.seeds))
    primary = pool([p for p, _ in per_setting.values()])
    return ClaimResult(number, statistic, primary, pool([e for _, e in per_setting.values()]), per_setting,
                       per_pair, seeds)


def paired_difference(metric: str, higher: bool, sel: pd.DataFrame, counts: Mapping[str, bs.CellCounts],
                      pairs: Mapping[str, str], *, n_boot: int, seed: int, protocol: str) -> ClaimResult | None:
    """The paired difference compared - baseline on ``metric`` over ``pairs``, measured as claims 1 and 7-12
    (per seed the mean over the pairs, per setting the mean over seeds with the shared test set's variance,
    pooled over settings), for comparisons that are not claims: ``effect`` and ``primary`` are that
    difference, ``number`` is 0. Several compared methods may share one baseline (``nbs_ltr`` ->
    ``diffdp``, ``nbs_forml`` -> ``diffdp``: the NBS variants' mean minus DiffDP)."""
    return _test_claim(0, metric, higher, sel, counts, "diff", n_boot, seed, protocol, pairs)


def _reliability(sel: pd.DataFrame, counts: Mapping[str, bs.CellCounts], statistic: str, n_boot: int, seed: int,
                 protocol: str) -> ClaimResult | None:
    """Claim 6: per seed, over the pairs and the notions, S(NBS vs ERM) - S(one-stage vs ERM) (S = 1 when
    fairer, 1/2 within the tie tolerance, 0 else); the effect is the signed fairness difference."""
    pairs = _pairs_in(sel)
    notions = [n for n in FAIRNESS_NOTIONS if n in sel.columns]
    if not pairs or "erm" not in set(sel["method"]) or not notions:
        return None
    settings = _settings(sel, ["erm", *pairs, *pairs.values()], counts, n_boot, seed, protocol)
    if not settings:
        return None

    def score(get: Callable[[str, str], np.ndarray]) -> np.ndarray:
        return np.mean([better_score(get(a, k), get("erm", k), FAIRNESS_NOTIONS[k])
                        - better_score(get(b, k), get("erm", k), FAIRNESS_NOTIONS[k])
                        for a, b in pairs.items() for k in notions], axis=0)

    def fairer(get: Callable[[str, str], np.ndarray]) -> np.ndarray:
        return np.mean([_signed(k, FAIRNESS_NOTIONS[k], get(a, k), get(b, k)) for a, b in pairs.items()
                        for k in notions], axis=0)

    per_setting = {}
    for name, s in settings.items():
        effect = s.estimate(fairer)
        per_setting[name] = (s.estimate(score) if statistic == "poi" else effect, effect)
    return ClaimResult(6, statistic, pool([p for p, _ in per_setting.values()]),
                       pool([e for _, e in per_setting.values()]), per_setting, {},
                       [len(s.seeds) for s in settings.values()])


def _stage1_claim(number: int, per_run: pd.DataFrame, column: str) -> ClaimResult | None:
    """Claims 3-5: the NBS level (per seed, the mean over the NBS variants: identical variants count once)
    and the effect NBS - one-stage (per seed, the mean over the pairs)."""
    if per_run.empty or column not in per_run.columns:
        return None
    pairs = _pairs_in(per_run)
    nbs = [m for m in NBS_PAIRS if m in set(per_run["method"])]
    if not nbs:
        return None
    per_setting, seeds = {}, []
    for setting, group in per_run.groupby("setting", sort=True):
        wide = group.pivot_table(index="seed", columns="method", values=column, aggfunc="mean")
        mine = [m for m in nbs if m in wide.columns]
        if not mine:
            continue
        level = mean_estimate(wide[mine].mean(axis=1).to_numpy())
        diffs = [wide[a] - wide[b] for a, b in pairs.items() if a in wide.columns and b in wide.columns]
        effect = mean_estimate(pd.concat(diffs, axis=1).mean(axis=1).to_numpy()) if diffs else \
            Estimate(float("nan"), float("nan"), float("nan"), 0)
        per_setting[str(setting)] = (level, effect)
        seeds.append(int(wide[mine].notna().any(axis=1).sum()))
    if not per_setting:
        return None
    return ClaimResult(number, "level", pool([p for p, _ in per_setting.values()]),
                       pool([e for _, e in per_setting.values() if np.isfinite(e.point)]), per_setting, {}, seeds)


def stage1_per_run(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Per run: the mean of ``columns`` over its first min(stage-1 epochs, 15) epochs (as the alignment table)."""
    rows = _stage1_rows(frame, ALIGNMENT_WINDOW)
    present = [c for c in columns if c in rows.columns]
    per_run = rows.groupby("run_dir")[present].mean()
    runs = frame.drop_duplicates("run_dir").set_index("run_dir")[["protocol", "setting", "method", "seed"]]
    return runs.join(per_run, how="inner").reset_index()


def monotone_share(frame: pd.DataFrame) -> pd.DataFrame:
    """Per run: share of consecutive stage-1 epochs whose mean validation cell loss (after the step) does not rise
    by more than the tie tolerance."""
    from fairbench.reports.inference import TIE_TOLERANCE

    after = [c for c in frame.columns if c.startswith("val_cell_loss_after/")]
    rows = _stage1_rows(frame, ALIGNMENT_WINDOW)
    out = []
    for run_dir, group in rows.groupby("run_dir"):
        loss = group.sort_values("epoch")[after].mean(axis=1).to_numpy() if after else np.array([])
        steps = np.diff(loss[~np.isnan(loss)])
        if steps.size:
            out.append({"run_dir": run_dir, "monotone_share": float(np.mean(steps <= TIE_TOLERANCE))})
    runs = frame.drop_duplicates("run_dir").set_index("run_dir")[["protocol", "setting", "method", "seed"]]
    return runs.join(pd.DataFrame(out, columns=["run_dir", "monotone_share"]).set_index("run_dir"),
                     how="inner").reset_index()


def measure_claims(selected: pd.DataFrame, stage1: pd.DataFrame, counts: Mapping[str, bs.CellCounts], *,
                   statistic: str = "poi", exclude_degenerate: bool = False, n_boot: int = ROW_DRAWS,
                   seed: int = 0) -> dict[int, ClaimResult]:
    """Every claim measurable on ``selected`` (one protocol's runs at their selected epochs, flagged by
    :func:`~fairbench.reports.degenerate.flag_degenerate`) and ``stage1`` (per run: the stage-1
    diagnostics, :func:`stage1_per_run` joined with :func:`monotone_share`)."""
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}; valid: {', '.join(STATISTICS)}")
    protocol = str(selected["protocol"].iloc[0]) if not selected.empty else ""
    degenerate = set(selected.loc[selected["degenerate"].astype(bool), "run_dir"]) if "degenerate" in selected else set()
    sel = selected[~selected["run_dir"].isin(degenerate)] if exclude_degenerate else selected
    st1 = stage1[~stage1["run_dir"].isin(degenerate)] if exclude_degenerate else stage1
    found: dict[int, ClaimResult | None] = {
        1: _test_claim(1, "auc", True, sel, counts, statistic, n_boot, seed, protocol),
        2: _test_claim(2, "group_auc_gap", False, sel, counts, statistic, n_boot, seed, protocol),
        3: _stage1_claim(3, st1, "applied_alignment_rate"),
        4: _stage1_claim(4, st1, "pareto_improvement_rate"),
        5: _stage1_claim(5, st1, "monotone_share"),
        6: _reliability(sel, counts, statistic, n_boot, seed, protocol),
    }
    for number, (contrast, metric) in ABLATION_CLAIMS.items():
        found[number] = _test_claim(number, metric, ABLATION_METRICS[metric][1], sel, counts, statistic, n_boot,
                                    seed, protocol, contrast_pairs(contrast))
    if found[3] is not None and "alignment_rate" in st1.columns:
        before = _stage1_claim(3, st1, "alignment_rate")
        if before is not None:
            found[3].extra["before clipping"] = before.primary
    out = {}
    for number, result in found.items():
        if result is None:
            continue
        if number in STATISTIC_CLAIMS:
            pairs = claim_methods(number)
            methods = {*pairs, *pairs.values(), *(["erm"] if number == 6 else [])}
            mine = selected[selected["method"].isin(methods)]
        else:
            mine = selected[selected["run_dir"].isin(set(stage1["run_dir"]))]
        result.runs = int(mine["run_dir"].nunique())
        result.degenerate = int(mine.drop_duplicates("run_dir")["run_dir"].isin(degenerate).sum())
        out[number] = result
    return out
