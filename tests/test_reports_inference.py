"""Small-sample inference of the findings (fairbench.reports.inference, claims, verdicts): coverage at 5 seeds,
no double counting of test-set noise, ties, identical runs counted once, insufficient evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fairbench.reports.bootstrap import counts_from_predictions, probability_of_improvement
from fairbench.reports.inference import (Estimate, equivalent, mean_estimate, min_detectable_effect, poi_estimate,
                                         pool)
from fairbench.reports.stats import bootstrap_summary

REPS = 4000


def _coverage(n: int, rng: np.random.Generator) -> float:
    """Share of REPS 95 % intervals (mean_estimate, the tables' and the findings' intervals) covering the true
    mean 0 of normal seeds."""
    hits = 0
    for _ in range(REPS):
        low, high = mean_estimate(rng.normal(0.0, 1.0, n)).interval()
        hits += low <= 0.0 <= high
    return hits / REPS


@pytest.mark.parametrize("n", [5, 10, 25])
def test_interval_coverage_by_simulation(n: int) -> None:
    # a 95 % interval must cover 95 % of the time; the binomial standard error of REPS draws is
    # sqrt(0.95 * 0.05 / REPS) = 0.0034, so 4 of them leave a false alarm rate below 1e-4
    coverage = _coverage(n, np.random.default_rng(n))
    assert abs(coverage - 0.95) < 4 * np.sqrt(0.95 * 0.05 / REPS), coverage


def test_table_intervals_are_these_intervals() -> None:
    values = np.array([0.61, 0.7, 0.64, 0.8, 0.58])
    frame = pd.DataFrame({"experiment": "main", "protocol": "standard", "setting": "s", "method": "m",
                          "seed": range(5), "run_dir": [f"r{i}" for i in range(5)], "auc": values})
    row = bootstrap_summary(frame, ["auc"], n_boot=200).iloc[0]
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(mean_estimate(values).interval())


def test_own_test_sets_add_no_row_noise() -> None:
    # every seed with its own test set (standard protocol): the interval is the seed interval, never widened
    rng = np.random.default_rng(0)
    counts, rows = {}, []
    for seed in range(5):
        y = np.repeat([0, 1, 0, 1], 10)
        group = np.repeat([0, 0, 1, 1], 10)
        labels = np.where(rng.random(40) < 0.8, y, 1 - y)
        c = counts_from_predictions(y, group, labels, 2)
        from fairbench.reports.bootstrap import CellCounts, metrics_from_counts
        counts[f"r{seed}"] = CellCounts(c.correct, c.total, c.right, c.cell, split=f"s/seed{seed}")
        rows.append({"experiment": "main", "protocol": "standard", "setting": "s", "method": "m", "seed": seed,
                     "run_dir": f"r{seed}", "auc": float(metrics_from_counts(c.correct, c.total)["auc"])})
    frame = pd.DataFrame(rows)
    with_counts = bootstrap_summary(frame, ["auc"], counts, n_boot=500).iloc[0]
    without = bootstrap_summary(frame, ["auc"], {}, n_boot=500).iloc[0]
    assert with_counts["ci_low"] == pytest.approx(without["ci_low"])
    assert with_counts["ci_high"] == pytest.approx(without["ci_high"])
    # one shared test set (paper protocol): the test-set variance is added, so the interval is wider
    shared = {k: CellCounts(v.correct, v.total, v.right, counts["r0"].cell, split="s/paper") for k, v in counts.items()}
    wider = bootstrap_summary(frame, ["auc"], shared, n_boot=500).iloc[0]
    assert wider["ci_high"] - wider["ci_low"] > with_counts["ci_high"] - with_counts["ci_low"]


def test_float_ties_use_the_stated_tolerance() -> None:
    x, y = np.array([0.3 + 1e-16, 0.5]), np.array([0.3, 0.5 - 2e-16])
    assert probability_of_improvement(x, y).item() == pytest.approx(
        np.mean([[0.5, 0.0], [1.0, 0.5]]))  # 0.3 vs 0.5 is a loss; the near-equal pairs tie


def test_poi_interval_contains_its_point_and_pool_is_welch() -> None:
    e = poi_estimate([0.8, 0.7, 0.9, 0.6, 0.75], [0.7, 0.65, 0.8, 0.7, 0.6])
    low, high = e.interval()
    assert low <= e.point <= high and e.df == 4
    pooled = pool([Estimate(1.0, 0.1, 4, 5), Estimate(3.0, 0.1, 4, 5)])
    assert pooled.point == 2.0 and pooled.se == pytest.approx(np.sqrt(0.02) / 2) and pooled.df == pytest.approx(8)


def test_power_and_equivalence() -> None:
    from scipy import stats

    e = mean_estimate([0.001, -0.002, 0.0015, 0.0, -0.001])
    nc, critical = min_detectable_effect(e) / e.se, stats.t.ppf(0.975, 4)
    assert stats.nct.sf(critical, 4, nc) + stats.nct.cdf(-critical, 4, nc) == pytest.approx(0.8)
    assert equivalent(e, 0.01) is True and equivalent(e, 0.0001) is False
    assert equivalent(mean_estimate([0.1]), 0.01) is None
