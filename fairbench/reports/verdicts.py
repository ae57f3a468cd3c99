"""The findings' verdict rule: minimum evidence, then one-sided t-tests against each claim's threshold with
Holm's adjustment over every verdict of one analysis (docs/protocols.md §6).

- **insufficient evidence**: fewer than :data:`MIN_SEEDS` paired seeds in the median setting, or fewer
  than :data:`MIN_NON_DEGENERATE` of the claim's runs non-degenerate, or no interval;
- **supported**: the Holm-adjusted p-value of "the statistic lies on the claimed side of its threshold"
  is below ``alpha`` (0.05);
- **contradicted**: the same for the other side;
- **inconclusive** otherwise.

Holm (Scand. J. Statist. 1979) controls the family-wise error rate over a family under any dependence
between its tests. There are two families per analysis (:func:`claim_family`): the paper's claims 1-6
under every protocol (12 tests per side), and the bargaining ablation's claims 7-12 under every protocol
(12 more): the ablation asks a separate question, and running it must not change the paper's verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fairbench.reports.claims import ABLATION_CLAIMS, ClaimResult
from fairbench.reports.inference import one_sided_p
from fairbench.reports.stats import holm_bonferroni

__all__ = ["ALPHA", "MIN_NON_DEGENERATE", "MIN_SEEDS", "VERDICTS", "Verdict", "claim_family", "insufficient_evidence", "judge"]

ALPHA = 0.05
#: Fewer paired seeds than this in the median setting: too few for a t-interval to mean much (at 4 seeds
#: t_{0.975, 3} = 3.18, and one seed moves the mean by a quarter of its range).
MIN_SEEDS = 5
#: A smaller share of non-degenerate runs: the numbers describe failed trainings, not the method.
MIN_NON_DEGENERATE = 0.5
VERDICTS: tuple[str, ...] = ("supported", "contradicted", "inconclusive", "insufficient evidence")


class Verdict(tuple):
    """(verdict, Holm-adjusted p of the claimed side, of the other side, why)."""

    __slots__ = ()

    def __new__(cls, verdict: str, p_claim: float, p_other: float, why: str = "") -> Verdict:
        return super().__new__(cls, (verdict, p_claim, p_other, why))

    verdict = property(lambda self: self[0])
    p_claim = property(lambda self: self[1])
    p_other = property(lambda self: self[2])
    why = property(lambda self: self[3])


def insufficient_evidence(result: ClaimResult) -> str:
    """Why ``result`` is too little evidence for a verdict (the rule above), or "" when it is enough."""
    seeds = float(np.median(result.seeds)) if result.seeds else 0.0
    if seeds < MIN_SEEDS:
        return f"median {seeds:g} paired seeds per setting, below the minimum of {MIN_SEEDS}"
    share = 1 - result.degenerate / result.runs if result.runs else 0.0
    if share < MIN_NON_DEGENERATE:
        return (f"{share:.0%} of its runs non-degenerate, below the minimum of {MIN_NON_DEGENERATE:.0%}")
    if not np.isfinite(result.primary.se):
        return "no interval (a setting has a single seed)"
    return ""


def judge(results: Mapping[tuple, ClaimResult], alpha: float = ALPHA) -> dict[tuple, Verdict]:
    """A verdict for every result of one analysis (keys (protocol, claim number)), Holm-adjusted within
    each family (:func:`claim_family`) over the results that have enough evidence."""
    keys = list(results)
    why = {k: insufficient_evidence(results[k]) for k in keys}
    out = {k: Verdict("insufficient evidence", float("nan"), float("nan"), why[k]) for k in keys if why[k]}
    for family in sorted({claim_family(k) for k in keys}):
        tested = [k for k in keys if not why[k] and claim_family(k) == family]
        p_claim = np.array([one_sided_p(results[k].primary, results[k].threshold, results[k].higher)
                            for k in tested])
        p_other = np.array([one_sided_p(results[k].primary, results[k].threshold, not results[k].higher)
                            for k in tested])
        adj_claim, adj_other = holm_bonferroni(p_claim), holm_bonferroni(p_other)
        for i, k in enumerate(tested):
            verdict = ("supported" if adj_claim[i] < alpha else "contradicted" if adj_other[i] < alpha
                       else "inconclusive")
            out[k] = Verdict(verdict, float(adj_claim[i]), float(adj_other[i]))
    return out


def claim_family(key: tuple) -> str:
    """The Holm family of a result keyed ``(..., claim number)``: the bargaining ablation's claims form
    their own family, every other claim the paper's."""
    return "bargaining ablation" if key[-1] in ABLATION_CLAIMS else "paper"
