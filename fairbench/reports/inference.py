"""Small-sample inference for the findings: t-intervals of smooth estimands, pooling over settings,
one-sided p-values, Holm's adjustment, the minimum detectable effect and equivalence (TOST).

The unit of replication is the **seed** within a setting (Bouthillier et al., "Accounting for Variance in
Machine Learning Benchmarks", MLSys 2021). Every estimand here is a mean of per-seed values (a paired
difference, or a probability of improvement as a two-sample U-statistic), so its sampling distribution
is close to normal and a t-interval keeps its coverage at 5 seeds, where a percentile bootstrap of the
seed mean covers about 84 % instead of 95 % (``tests/test_reports_inference.py`` simulates it).

- **Seed variance**: ``s^2 / n`` (ddof = 1) for a mean; DeLong's variance ``var(V10) / n + var(V01) / m``
  of the Mann-Whitney statistic for Agarwal et al.'s probability of improvement (DeLong et al.,
  Biometrics 1988; Agarwal et al., NeurIPS 2021).
- **Test-set variance** (``row_var``): added only where every seed scores one shared test set (the
  paper protocol): the seed spread then contains none of the test-set noise, which a bootstrap of the
  test rows with the seeds held fixed measures. Where each seed draws its own split (the standard
  protocol) the seed spread already contains it, and adding it would count it twice.
- **Pooling** over settings: the mean of the settings' estimates, standard error ``sqrt(sum se^2) / k``,
  Welch-Satterthwaite degrees of freedom.
- **Multiplicity**: Holm's step-down adjustment (Holm, Scand. J. Statist. 1979), which controls the
  family-wise error rate under any dependence; ``fairbench.reports.stats.holm_bonferroni`` computes it
  (tested against the definition; statsmodels' ``multipletests`` would add a large dependency for it).
- **Power**: the minimum detectable effect at two-sided level alpha and power ``1 - beta`` is the effect
  ``delta`` whose t-test rejects with probability ``1 - beta``, from the noncentral t distribution with
  noncentrality ``delta / se`` (exact for a paired t-test; the common shortcut
  ``(t_{1 - alpha/2, df} + t_{1 - beta, df}) se`` gives 79 % power at 4 degrees of freedom).
- **Equivalence**: two one-sided tests (TOST; Schuirmann, J. Pharmacokin. Biopharm. 1987) at level
  alpha: equivalent within +-margin when the ``1 - 2 alpha`` t-interval lies inside (-margin, margin).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["TIE_TOLERANCE", "Estimate", "better_score", "equivalent", "mean_estimate", "min_detectable_effect",
           "one_sided_p", "poi_estimate", "pool", "t_interval"]

#: Metric values closer than this count as ties. Every hard-label metric is a ratio of test-row counts;
#: two different ratios with denominators below 30,000 differ by at least 1 / 30,000^2 > 1.1e-9, while
#: floating-point summation leaves differences of order 1e-16.
TIE_TOLERANCE = 1e-9


def better_score(x: np.ndarray, y: np.ndarray, higher: bool = True, tol: float = TIE_TOLERANCE) -> np.ndarray:
    """``S(x, y)``: 1 where ``x`` is better than ``y`` by more than ``tol``, 1/2 within ``tol``, else 0
    (NaN where either is NaN)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    diff = (x - y) if higher else (y - x)
    out = np.where(diff > tol, 1.0, np.where(diff < -tol, 0.0, 0.5))
    return np.where(np.isnan(diff), np.nan, out)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its standard error and degrees of freedom (NaN where they are unknown)."""

    point: float
    se: float
    df: float
    n: int

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        return t_interval(self.point, self.se, self.df, level)


NAN_ESTIMATE = Estimate(float("nan"), float("nan"), float("nan"), 0)


def _t(q: float, df: float) -> float:
    from scipy import stats as sps

    return float(sps.t.ppf(q, df))


def t_interval(point: float, se: float, df: float, level: float = 0.95) -> tuple[float, float]:
    """``point +- t_{(1 + level)/2, df} se``; NaN when se or df is unknown."""
    if not (np.isfinite(point) and np.isfinite(se) and np.isfinite(df) and df > 0):
        return float("nan"), float("nan")
    half = _t(0.5 + level / 2, df) * se
    return point - half, point + half


def mean_estimate(values: Sequence[float] | np.ndarray, row_var: float = 0.0) -> Estimate:
    """Mean of per-seed ``values`` with ``se = sqrt(s^2 / n + row_var)`` and ``n - 1`` degrees of freedom
    (``row_var``: the test-set variance of the mean, only for seeds sharing one test set)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return NAN_ESTIMATE
    if x.size < 2:
        return Estimate(float(x.mean()), float("nan"), float("nan"), 1)
    se = float(np.sqrt(x.var(ddof=1) / x.size + max(float(row_var), 0.0)))
    return Estimate(float(x.mean()), se, float(x.size - 1), int(x.size))


def poi_estimate(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, higher: bool = True,
                 row_var: float = 0.0) -> Estimate:
    """Agarwal et al.'s ``P(X better than Y) = mean_{i,j} S(x_i, y_j)`` with DeLong's variance
    ``var_i(mean_j S) / n + var_j(mean_i S) / m`` (plus ``row_var``), ``min(n, m) - 1`` degrees of freedom."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if x.size == 0 or y.size == 0:
        return NAN_ESTIMATE
    s = better_score(x[:, None], y[None, :], higher)
    point = float(s.mean())
    n = min(x.size, y.size)
    if n < 2:
        return Estimate(point, float("nan"), float("nan"), n)
    var = s.mean(axis=1).var(ddof=1) / x.size + s.mean(axis=0).var(ddof=1) / y.size + max(float(row_var), 0.0)
    return Estimate(point, float(np.sqrt(var)), float(n - 1), int(n))


def pool(estimates: Sequence[Estimate]) -> Estimate:
    """Mean of the estimates (one per setting), ``se = sqrt(sum se_k^2) / k``, Welch-Satterthwaite df;
    NaN se when any setting's is unknown."""
    items = [e for e in estimates if np.isfinite(e.point)]
    if not items:
        return NAN_ESTIMATE
    k = len(items)
    point = float(np.mean([e.point for e in items]))
    n = min(e.n for e in items)
    ses = np.array([e.se for e in items])
    dfs = np.array([e.df for e in items])
    if not np.all(np.isfinite(ses)) or not np.all(dfs > 0):
        return Estimate(point, float("nan"), float("nan"), n)
    var = float(np.sum(ses ** 2))
    if var == 0.0:
        return Estimate(point, 0.0, float(dfs.sum()), n)
    df = var ** 2 / float(np.sum(ses ** 4 / dfs))
    return Estimate(point, float(np.sqrt(var)) / k, float(df), n)


def one_sided_p(estimate: Estimate, threshold: float, higher: bool = True) -> float:
    """p-value of the one-sided t-test of "the estimand is above ``threshold``" (below when not
    ``higher``); NaN when the standard error is unknown; 0 or 1 for an exact (zero-variance) estimate."""
    from scipy import stats as sps

    if not (np.isfinite(estimate.point) and np.isfinite(estimate.se) and np.isfinite(estimate.df)):
        return float("nan")
    diff = (estimate.point - threshold) if higher else (threshold - estimate.point)
    if estimate.se == 0:
        return 0.0 if diff > TIE_TOLERANCE else 1.0
    return float(sps.t.sf(diff / estimate.se, estimate.df))


def min_detectable_effect(estimate: Estimate, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true effect a two-sided level-``alpha`` t-test detects with probability ``power``, given
    the estimate's standard error: the ``delta`` with ``P(|T| > t_{1 - alpha/2, df}) = power`` for ``T``
    noncentral t with ``df`` degrees of freedom and noncentrality ``delta / se``."""
    from scipy import optimize
    from scipy import stats as sps

    if not (np.isfinite(estimate.se) and np.isfinite(estimate.df) and estimate.df > 0):
        return float("nan")
    df, critical = estimate.df, _t(1 - alpha / 2, estimate.df)

    def shortfall(nc: float) -> float:
        reject = float(sps.nct.sf(critical, df, nc) + sps.nct.cdf(-critical, df, nc))
        return (1.0 if np.isnan(reject) else reject) - power  # scipy's nct gives NaN far in the tail

    shortcut = critical + _t(power, df)  # close to the root: bracket it generously
    return float(optimize.brentq(shortfall, 0.0, 2 * shortcut, xtol=1e-12)) * estimate.se


def equivalent(estimate: Estimate, margin: float, alpha: float = 0.05) -> bool | None:
    """TOST at level ``alpha``: True when the ``1 - 2 alpha`` interval lies inside ``(-margin, margin)``,
    False when it does not, None when the interval is unknown."""
    low, high = estimate.interval(1 - 2 * alpha)
    if np.isnan(low):
        return None
    return bool(-margin < low and high < margin)
