"""Seed statistics, paired tests and Holm correction against scipy and hand values."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from fairbench.reports.stats import describe, holm_bonferroni, paired_test, paired_tests, summarise


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_describe_matches_scipy(n: int) -> None:
    x = np.random.default_rng(n).normal(0.8, 0.05, n)
    out = describe(x)
    assert out["n"] == n
    assert out["mean"] == pytest.approx(x.mean())
    assert out["std"] == pytest.approx(np.std(x, ddof=1))
    lo, hi = sps.t.interval(0.95, n - 1, loc=x.mean(), scale=sps.sem(x))
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((lo, hi))


def test_describe_single_value_and_nan() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = describe([0.7, float("nan")])
        none = describe([])
    assert one["n"] == 1 and one["mean"] == 0.7 and np.isnan(one["std"]) and np.isnan(one["ci_low"])
    assert none["n"] == 0 and np.isnan(none["mean"])


def test_holm_on_known_values() -> None:
    # sorted: .005*4=.02, .01*3=.03, .03*2=.06, .04*1=.04 -> max-accumulated .06
    p = [0.01, 0.04, 0.03, 0.005]
    assert holm_bonferroni(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm_bonferroni([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1
    out = holm_bonferroni([0.01, np.nan, 0.02])  # NaN does not count towards m
    assert out[0] == pytest.approx(0.02) and np.isnan(out[1]) and out[2] == pytest.approx(0.02)
    assert np.isnan(holm_bonferroni([np.nan])).all()


def test_holm_never_below_raw_and_monotone() -> None:
    p = np.random.default_rng(0).uniform(0, 0.2, 12)
    adj = holm_bonferroni(p)
    assert np.all(adj >= p - 1e-15)
    order = np.argsort(p)
    assert np.all(np.diff(adj[order]) >= -1e-15)


def test_paired_t_and_wilcoxon_match_scipy() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.8, 0.02, 7), rng.normal(0.78, 0.02, 7)
    t = paired_test(a, b, "t")
    assert t["p_value"] == pytest.approx(sps.ttest_rel(a, b).pvalue)
    assert t["statistic"] == pytest.approx(sps.ttest_rel(a, b).statistic)
    assert t["mean_diff"] == pytest.approx(np.mean(a - b)) and t["note"] == ""
    w = paired_test(a, b, "wilcoxon")
    assert w["p_value"] == pytest.approx(sps.wilcoxon(a - b).pvalue)


@pytest.mark.parametrize("a,b,note", [
    ([0.8], [0.7], "n=1"),
    ([0.8, 0.7, 0.6], [0.8, 0.7, 0.6], "identical"),
    ([0.8, 0.7, 0.6], [0.7, 0.6, 0.5], "zero variance"),
])
@pytest.mark.parametrize("test", ["t", "wilcoxon"])
def test_degenerate_pairs_give_nan_and_a_note_without_warnings(a, b, note, test) -> None:  # noqa: ANN001
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = paired_test(a, b, test)
    assert np.isnan(out["p_value"]) and note in out["note"]


def _selected() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    rows = []
    for setting, shift in (("adult-sex", 0.05), ("titanic-sex", 0.0)):
        for seed in range(5):
            base = rng.normal(0.8, 0.01)
            for method, delta in (("ltr", 0.0), ("nbs_ltr", shift + rng.normal(0, 0.005)),
                                  ("forml", 0.0), ("nbs_forml", rng.normal(0, 0.01))):
                rows.append({"experiment": "main", "protocol": "paper", "setting": setting, "method": method,
                             "seed": seed, "bargain_epochs": 15, "val_per_cell": 3, "auc": base + delta,
                             "group_auc_gap": 0.1 - delta + rng.normal(0, 0.01)})
    return pd.DataFrame(rows)


def test_paired_tests_pair_by_seed_and_correct_within_families() -> None:
    sel = _selected()
    out = paired_tests(sel, ["auc", "group_auc_gap"])
    assert len(out) == 2 * 2 * 2  # settings x pairs x metrics
    row = out[(out["setting"] == "adult-sex") & (out["method"] == "nbs_ltr") & (out["metric"] == "auc")].iloc[0]
    a = sel[(sel["setting"] == "adult-sex") & (sel["method"] == "nbs_ltr")].sort_values("seed")["auc"]
    b = sel[(sel["setting"] == "adult-sex") & (sel["method"] == "ltr")].sort_values("seed")["auc"]
    assert row["p_value"] == pytest.approx(sps.ttest_rel(a.to_numpy(), b.to_numpy()).pvalue)
    assert row["significant"] and row["baseline"] == "ltr"
    assert (out["significant"] == (out["p_holm"] < 0.05)).all()
    for _, family in out.groupby("metric"):
        assert family["p_holm"].to_numpy() == pytest.approx(holm_bonferroni(family["p_value"].to_numpy()))
    # shuffling the rows must not change the pairing
    shuffled = paired_tests(sel.sample(frac=1.0, random_state=0), ["auc", "group_auc_gap"])
    key = ["setting", "method", "metric"]
    pd.testing.assert_frame_equal(out.sort_values(key).reset_index(drop=True),
                                  shuffled.sort_values(key).reset_index(drop=True))


def test_summarise_groups_and_metrics() -> None:
    sel = _selected()
    out = summarise(sel, ["auc"], by=("setting", "method"))
    assert len(out) == 2 * 4
    r = out[(out["setting"] == "titanic-sex") & (out["method"] == "ltr")].iloc[0]
    values = sel[(sel["setting"] == "titanic-sex") & (sel["method"] == "ltr")]["auc"]
    assert r["mean"] == pytest.approx(values.mean()) and r["std"] == pytest.approx(values.std(ddof=1))
    with pytest.raises(ValueError, match="no selected runs"):
        summarise(sel.iloc[0:0], ["auc"])
