"""The findings' numbers checked against direct computations (scipy.stats, hand-computed examples): the
claim-3 criterion, test-set noise by protocol, effect sizes, Holm and the selection-aware interval, power
and equivalence, degenerate counts rebuilt from metrics.csv, robustness and the cross-fitted epoch rule."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fairbench.reports.bootstrap import load_selected_counts
from fairbench.reports.claims import ClaimResult
from fairbench.reports.collect import collect_runs
from fairbench.reports.degenerate import REASON_LABELS, degenerate_counts, flag_degenerate
from fairbench.reports.findings import _pair_lines, build_findings
from fairbench.reports.inference import Estimate, equivalent, mean_estimate, min_detectable_effect
from fairbench.reports.selection import select_epochs
from fairbench.reports.stats import holm_bonferroni
from tests.test_reports_evidence_fixtures import write_predicted_run

PAIRS = {"nbs_ltr": "ltr", "nbs_forml": "forml", "nbs_meta_gdro": "meta_gdro"}
SEEDS = range(5)
#: Relative tolerance of float64 sums of a few dozen terms.
RTOL = 1e3 * np.finfo(np.float64).eps


def _set_data(path: Path, **data: object) -> None:
    record = json.loads(path.read_text())
    record["data"].update(data)
    path.write_text(json.dumps(record))


def _grid(root: Path, *, accuracy: dict[str, object] | None = None, protocols=("paper", "standard"),
          extra=None) -> Path:
    """Five seeds of ERM and the three pairs per protocol; the paper protocol shares one test set, the
    standard protocol gives each seed its own."""
    for protocol in protocols:
        for seed in SEEDS:
            for method in ("erm", *PAIRS, *PAIRS.values()):
                default = 0.85 if method.startswith("nbs_") else 0.8
                path = write_predicted_run(root, method=method, seed=seed, protocol=protocol, epochs=5,
                                           bargain_epochs=4, accuracy=(accuracy or {}).get(method, default),
                                           extra=(extra(method, seed) if extra else None))
                _set_data(path, n_test=36, split="paper" if protocol == "paper" else f"seed{seed}")
    return root


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _grid(tmp_path_factory.mktemp("grid"))


@pytest.fixture(scope="module")
def numbers(grid: Path) -> pd.DataFrame:
    return build_findings(collect_runs(grid), n_boot=300, robustness=False)[1].set_index(["number", "protocol"])


def _paired_effect(grid: Path, protocol: str, metric: str) -> np.ndarray:
    """Per seed: the mean over the pairs of NBS - one-stage ``metric`` at the protocol's selected epoch."""
    selected = select_epochs(collect_runs(grid))
    sub = selected[selected["protocol"] == protocol].set_index(["method", "seed"])[metric]
    return np.array([np.mean([sub[(a, s)] - sub[(b, s)] for a, b in PAIRS.items()]) for s in SEEDS])


# -- claim 3: the applied direction against the absolute criterion ----------------------------------------------

@pytest.mark.parametrize(("applied", "verdict"), [(0.25, "contradicted"), (0.8, "supported")])
def test_claim3_is_judged_after_clipping_against_its_criterion(tmp_path: Path, applied: float, verdict: str) -> None:
    def extra(method: str, seed: int) -> dict[str, list[float]] | None:
        if not method.startswith("nbs_"):
            return None  # one-stage methods: far lower alignment, so "NBS minus one-stage > 0" would hold
        return {"alignment_rate": [1.0] * 5, "applied_alignment_rate": [applied + 0.01 * seed] * 5}

    _grid(tmp_path, protocols=("paper",), extra=extra)
    text, data, _ = build_findings(collect_runs(tmp_path), n_boot=100, robustness=False)
    c3 = data.set_index("number").loc[3]
    assert c3["value"] == pytest.approx(applied + 0.02) and c3["threshold"] == 0.5
    assert c3["verdict"] == verdict
    # both rates are on the page: the judged after-clipping one and the before-clipping one (1 by construction)
    assert f"applied (after clipping) alignment rate of NBS = {applied + 0.02:.2f}" in text
    assert "before clipping the NBS alignment rate is 1.00" in text


# -- test-set noise: resampled only where the seeds share one test set --------------------------------------------

def test_intervals_resample_test_rows_only_on_a_shared_test_set(grid: Path, numbers: pd.DataFrame) -> None:
    for metric, number in (("auc", 1), ("group_auc_gap", 2)):
        diffs = _paired_effect(grid, "standard", metric)
        seeds_only = stats.t.interval(0.95, len(diffs) - 1, loc=diffs.mean(), scale=stats.sem(diffs))
        row = numbers.loc[(number, "standard")]
        # standard protocol, each seed its own test set: exactly the seeds-only interval
        assert (row["effect_low"], row["effect_high"]) == pytest.approx(seeds_only, rel=RTOL)
        # paper protocol, one shared test set: the test-set variance is added, so the interval is wider
        diffs = _paired_effect(grid, "paper", metric)
        seeds_only = stats.t.interval(0.95, len(diffs) - 1, loc=diffs.mean(), scale=stats.sem(diffs))
        row = numbers.loc[(number, "paper")]
        assert row["effect"] == pytest.approx(diffs.mean(), rel=RTOL)
        assert row["effect_high"] - row["effect_low"] > 1.05 * (seeds_only[1] - seeds_only[0])


# -- effect sizes: the paired differences' mean with a t-interval -------------------------------------------------

def test_effect_sizes_are_paired_means_with_t_intervals(grid: Path, numbers: pd.DataFrame) -> None:
    for metric, number in (("auc", 1), ("group_auc_gap", 2)):
        diffs = _paired_effect(grid, "standard", metric)
        row = numbers.loc[(number, "standard")]
        assert row["effect"] == pytest.approx(diffs.mean(), rel=RTOL)
        t = stats.ttest_1samp(diffs, 0.0)
        ci = t.confidence_interval(0.95)
        assert (row["effect_low"], row["effect_high"]) == pytest.approx((ci.low, ci.high), rel=RTOL)


# -- power and equivalence -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [3, 5, 25])
def test_mde_has_the_stated_power_of_a_paired_t_test(n: int) -> None:
    e = mean_estimate(np.linspace(-0.02, 0.03, n))
    mde = min_detectable_effect(e)
    critical = stats.t.ppf(0.975, n - 1)
    nc = mde / e.se
    power = stats.nct.sf(critical, n - 1, nc) + stats.nct.cdf(-critical, n - 1, nc)
    assert power == pytest.approx(0.8, abs=1e-9)
    # by simulation: paired differences with true mean mde and standard deviation se * sqrt(n)
    rng = np.random.default_rng(n)
    sims = rng.normal(mde, e.se * np.sqrt(n), size=(20000, n))
    rejected = np.mean(stats.ttest_1samp(sims, 0.0, axis=1).pvalue < 0.05)
    assert abs(rejected - 0.8) < 4 * np.sqrt(0.8 * 0.2 / 20000)


def test_tost_is_equivalent_exactly_when_the_90_interval_lies_within_the_margin() -> None:
    margin, df, se = 0.01, 4.0, 0.003
    half90 = stats.t.ppf(0.95, df) * se
    for point in np.linspace(-0.012, 0.012, 97):
        e = Estimate(float(point), se, df, 5)
        # the two one-sided tests, straight from scipy: both reject at 5 %
        p_low = stats.t.sf((point + margin) / se, df)
        p_high = stats.t.cdf((point - margin) / se, df)
        assert equivalent(e, margin) is bool(max(p_low, p_high) < 0.05), point
        assert equivalent(e, margin) is bool(-margin < point - half90 and point + half90 < margin)
    assert equivalent(Estimate(margin - 1.01 * half90, se, df, 5), margin) is True
    assert equivalent(Estimate(margin - 0.99 * half90, se, df, 5), margin) is False


# -- multiplicity: Holm and the selected maximum ------------------------------------------------------------------

def test_holm_against_a_hand_computed_example() -> None:
    # sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> running max 0.06
    p = [0.01, 0.04, 0.03, 0.005, np.nan]
    assert holm_bonferroni(p)[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02]) and np.isnan(holm_bonferroni(p)[4])


def _pairs_result(points: list[float], se: float) -> ClaimResult:
    per_pair = {(f"s{i}", "nbs_ltr"): Estimate(p, se, 4.0, 5) for i, p in enumerate(points)}
    return ClaimResult(1, "poi", Estimate(0.6, 0.1, 4, 5), Estimate(0.0, 0.01, 4, 5), per_pair=per_pair)


def test_pair_counts_use_holm_and_the_maximum_a_simultaneous_interval() -> None:
    se = 0.01
    # each unadjusted two-sided p below 5 % (t = 3 at 4 df: p = 0.040), none after Holm over eight
    points = [3 * se] * 8
    assert 2 * stats.t.sf(3.0, 4) < 0.05
    lines = _pair_lines(_pairs_result(points, se))
    assert lines[0].startswith("per setting and pair: 0 of 8 with NBS better and 0 with NBS worse")
    # one strong effect survives Holm
    lines = _pair_lines(_pairs_result([3 * se] * 7 + [20 * se], se))
    assert lines[0].startswith("per setting and pair: 1 of 8 with NBS better")
    low, high = map(float, re.search(r"largest effect: \+0\.200 \[([-+.\d]+), ([-+.\d]+)\]", lines[1]).groups())
    plain = stats.t.interval(0.95, 4, loc=20 * se, scale=se)
    bonferroni = stats.t.interval(1 - 0.05 / 8, 4, loc=20 * se, scale=se)
    assert (low, high) == pytest.approx(bonferroni, abs=1e-3)  # the page rounds to 3 decimals
    assert high - low > (plain[1] - plain[0]) + 2e-3


# -- degenerate runs: counts rebuilt from metrics.csv --------------------------------------------------------------

def test_degenerate_counts_rebuilt_from_metrics_equal_those_from_predictions(tmp_path: Path) -> None:
    for seed in range(3):
        for method, kw in (("erm", {"constant": 0}), ("dro", {"accuracy": 0.58}), ("ltr", {"accuracy": 0.95})):
            path = write_predicted_run(tmp_path, method=method, seed=seed, **kw)
            _set_data(path, n_test=36)
    selected = select_epochs(collect_runs(tmp_path))
    from_predictions = flag_degenerate(selected, load_selected_counts(selected))
    for npz in tmp_path.rglob("predictions.npz"):
        npz.unlink()
    assert load_selected_counts(selected) == {}
    from_metrics = flag_degenerate(selected, {})
    assert set(from_predictions["counts_source"]) == {"predictions"}
    assert set(from_metrics["counts_source"]) == {"metrics"}
    columns = ["degenerate", "degenerate_reason", "chance_tested", "run_auc_low", "run_auc_high"]
    pd.testing.assert_frame_equal(from_predictions[columns], from_metrics[columns])
    pd.testing.assert_frame_equal(degenerate_counts(from_predictions), degenerate_counts(from_metrics))
    counts = degenerate_counts(from_metrics).set_index("method")
    # constant predictors (a model failure) and runs not distinguishable from chance are counted apart
    assert counts.loc["erm", ["n_constant", "n_chance"]].tolist() == [3, 0]
    assert counts.loc["dro", "n_constant"] == 0 and counts.loc["dro", "n_chance"] >= 1
    assert counts.loc["ltr", "n_degenerate"] == 0 and counts["n_untested"].sum() == 0
    assert "model failure" in REASON_LABELS["constant"] and "underpowered" in REASON_LABELS["chance"]


# -- robustness over the analysis choices, with the cross-fitted epoch rule ---------------------------------------

@pytest.fixture(scope="module")
def flipping(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """NBS far better at epochs 2-4, far worse at the last epoch: the last-epoch rule flips claim 1."""
    root = tmp_path_factory.mktemp("flip")
    nbs = [0.7, 0.95, 0.95, 0.95, 0.6]
    _grid(root, protocols=("paper",), accuracy={m: nbs for m in PAIRS})
    text, data, robust_frame = build_findings(collect_runs(root), n_boot=200)
    return text, data, robust_frame


def test_robustness_table_has_every_claim_under_every_choice(flipping) -> None:
    from fairbench.reports.claims import STATISTICS
    from fairbench.reports.robustness import DEGENERATE_CHOICES, EPOCH_RULES

    _, data, frame = flipping
    judged = frame[frame["claim"] > 0]
    for number in data["number"]:
        here = judged[judged["claim"] == number]
        statistics = STATISTICS if number in (1, 2, 6) else ("level",)
        expected = {(r, s, d) for r in EPOCH_RULES for s in statistics for d in DEGENERATE_CHOICES}
        got = list(zip(here["epoch_rule"], here["statistic"], here["degenerate"]))
        assert sorted(got) == sorted(expected), number


def test_a_claim_is_robust_only_when_every_choice_agrees(flipping) -> None:
    from fairbench.reports.robustness import robust

    text, _, frame = flipping
    c1 = frame[(frame["claim"] == 1) & (frame["statistic"] == "diff")].set_index(["epoch_rule", "degenerate"])
    assert c1.loc[("test_seed_mean", "in"), "verdict"] == "supported"
    assert c1.loc[("last", "in"), "verdict"] == "contradicted"
    assert robust(frame, "paper", 1)[0] is False
    assert re.search(r"\| 1 \| [^\n]*\| paper: no \|", text)
    kept = frame[frame["degenerate"] == "in"]  # claim 3 agrees over the choices that keep every run
    assert kept.loc[kept["claim"] == 3, "verdict"].nunique() == 1 and robust(kept, "paper", 3)[0] is True
    # a verdict flipped under a single choice makes the claim not robust
    one = kept.copy()
    one.loc[one[(one["claim"] == 3)].index[0], "verdict"] = "inconclusive"
    assert robust(one, "paper", 3)[0] is False


def test_cross_fitted_epoch_rule_selects_on_one_half_and_scores_the_other(tmp_path: Path) -> None:
    from fairbench.evaluation import metrics as M
    from fairbench.reports.crossfit import cross_fitted_selection, half_of_rows
    from fairbench.runs.predictions import load_predictions

    from fairbench.runs.predictions import save_predictions
    from tests.test_reports_evidence_fixtures import predicted_metrics

    rng = np.random.default_rng(7)
    for seed in range(2):
        for method in ("ltr", "nbs_ltr"):
            path = write_predicted_run(tmp_path, method=method, seed=seed, epochs=4)
            _set_data(path, n_test=36, split="paper")
            # the best epoch differs by half: the first on half A, the third on half B
            p = load_predictions(path.parent / "predictions.npz")
            in_a = half_of_rows(2 * p.group + p.y)
            good = np.stack([np.where(in_a, 0.97, 0.55), np.full(36, 0.6), np.where(in_a, 0.55, 0.97),
                             np.full(36, 0.6)])
            labels = np.where(rng.random((4, 36)) < good, p.y, 1 - p.y)
            save_predictions(path.parent / "predictions.npz", p.y, p.group, labels)
            metrics = pd.read_csv(path.parent / "metrics.csv")
            for column, values in predicted_metrics(p.y, p.group, labels).items():
                metrics[column] = values
            metrics.to_csv(path.parent / "metrics.csv", index=False)
    main = collect_runs(tmp_path)
    selected, counts, missing = cross_fitted_selection(main)
    assert missing == [] and len(selected) == 4 and set(counts) == set(selected["run_dir"])
    for method, group in selected.groupby("method"):
        preds = {d: load_predictions(Path(d) / "predictions.npz") for d in group["run_dir"]}
        cell = 2 * next(iter(preds.values())).group + next(iter(preds.values())).y
        half = half_of_rows(cell)
        assert all(half[cell == c].sum() == 5 for c in range(4))  # every other row of each 9-row cell

        def best(rows: np.ndarray) -> int:  # the seed-mean AUC on those rows, first maximum
            curve = [np.mean([M.hard_label_auc(p.y[rows], p.labels[e][rows]) for p in preds.values()])
                     for e in range(4)]
            return int(np.argmax(curve))

        on_a, on_b = best(half), best(~half)
        assert (on_a, on_b) == (0, 2)
        assert set(group["crossfit_epoch_a"]) == {on_a + 1} and set(group["crossfit_epoch_b"]) == {on_b + 1}
        for row in group.itertuples():
            p = preds[row.run_dir]
            pooled = np.where(half, p.labels[on_b], p.labels[on_a])  # each half at the other half's epoch
            assert row.auc == pytest.approx(M.hard_label_auc(p.y, pooled), rel=RTOL)
            assert row.group_auc_gap == pytest.approx(M.group_auc_gap(p.y, pooled, p.group), rel=RTOL)
    # a run without predictions.npz: its configuration is left out and named
    lacking = next(Path(d) for d in main["run_dir"] if "/nbs_ltr/" in d and d.endswith("seed0"))
    (lacking / "predictions.npz").unlink()
    selected, _, missing = cross_fitted_selection(main)
    assert missing == [str(lacking)] and set(selected["method"]) == {"ltr"}


def test_page_says_where_cross_fitting_cannot_be_computed(tmp_path: Path) -> None:
    from fairbench.reports.robustness import robustness_markdown

    _grid(tmp_path, protocols=("paper", "standard"))
    for npz in (tmp_path / "main" / "standard").rglob("predictions.npz"):
        npz.unlink()
        break
    text, data, frame = build_findings(collect_runs(tmp_path), n_boot=100)
    crossed = frame[frame["epoch_rule"] == "cross_fitted"]
    assert set(crossed.loc[crossed["claim"] > 0, "protocol"]) == {"paper"}
    assert "Epoch rule cross_fitted: not available for the standard protocol: 1 of its 35 runs lack " \
           "predictions.npz." in text
    assert any(line.startswith("| cross_fitted |") for line in robustness_markdown(frame, ["paper", "standard"]))
