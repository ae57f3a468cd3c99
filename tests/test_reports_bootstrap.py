"""Bootstrap intervals over seeds and test rows, and the probability of improvement
(fairbench.reports.bootstrap, fairbench.reports.stats)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairbench.evaluation import metrics as M
from fairbench.reports.bootstrap import (CI_KINDS, CellCounts, counts_from_predictions, load_selected_counts,
                                         metrics_from_counts, percentile_ci, probability_of_improvement,
                                         resample_counts, seed_bootstrap, seed_row_bootstrap, shares_test_set)
from fairbench.reports.collect import collect_runs
from fairbench.reports.selection import select_epochs
from fairbench.reports.stats import bootstrap_summary, improvement_probabilities
from tests.test_reports_evidence_fixtures import write_predicted_run


def test_count_metrics_equal_the_metrics_module() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        n, G = int(rng.integers(4, 50)), int(rng.integers(1, 4))
        y, g, p = rng.integers(0, 2, n), rng.integers(0, G, n), rng.integers(0, 2, n)
        c = counts_from_predictions(y, g, p, G)
        got = metrics_from_counts(c.correct, c.total)
        want = {"auc": M.hard_label_auc(y, p), "worst_group_auc": M.worst_group_auc(y, p, g),
                "group_auc_gap": M.group_auc_gap(y, p, g), "tpr_gap": M.tpr_gap(y, p, g),
                "fpr_gap": M.fpr_gap(y, p, g), "accuracy": M.accuracy(y, p),
                "equalized_odds_difference": M.equalized_odds_difference(y, p, g)}
        for key, value in want.items():
            assert np.isclose(got[key], value, equal_nan=True), key


def test_seed_and_row_interval_covers_a_known_mean_at_the_nominal_rate() -> None:
    """Seeds with their own cell accuracies around known means, test rows drawn per cell: the 95 %
    interval of the seed mean of AUC must cover the true mean about 95 % of the time."""
    rng = np.random.default_rng(42)
    p_cell = np.array([[0.7, 0.8], [0.6, 0.9]])  # (group, label) accuracies
    truth = p_cell.mean()  # AUC is linear in the cell rates when the cells are the same size
    n_seeds, n_cell, reps = 8, 12, 300
    covered_rows = covered_seeds = 0
    for _ in range(reps):
        p_seed = np.clip(p_cell + rng.normal(0, 0.03, size=(n_seeds, 2, 2)), 0, 1)
        total = np.full((n_seeds, 2, 2), n_cell)
        correct = rng.binomial(total, p_seed)
        draws = seed_row_bootstrap(correct, total, n_boot=600, rng=rng)["auc"]
        lo, hi = percentile_ci(draws)
        covered_rows += lo <= truth <= hi
        values = metrics_from_counts(correct, total)["auc"]
        lo, hi = percentile_ci(seed_bootstrap(values, n_boot=600, rng=rng))
        covered_seeds += lo <= truth <= hi
    rate = covered_rows / reps
    assert 0.90 <= rate <= 0.995, rate
    assert covered_seeds / reps >= 0.85  # the seed-only interval also targets the mean


def test_a_shared_test_set_is_resampled_jointly() -> None:
    """Five seeds scoring one shared test set identically: seeds alone give a zero-width interval; the
    joint row bootstrap keeps a single test set's noise; independent test sets average it down."""
    y, group = np.tile(np.repeat([0, 1], 9), 2), np.repeat([0, 1], 18)
    pred = np.where(np.random.default_rng(3).random(36) < 0.75, y, 1 - y)
    one = counts_from_predictions(y, group, pred, 2)
    shared = [CellCounts(one.correct, one.total, one.right, one.cell, split="titanic-sex/paper")] * 5
    separate = [CellCounts(one.correct, one.total, one.right, one.cell, split=f"titanic-sex/seed{k}") for k in range(5)]
    assert shares_test_set(shared) and not shares_test_set(separate)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 5, size=(2000, 5))

    def width(units: list[CellCounts]) -> float:
        correct, total = resample_counts(units, idx, rng)
        lo, hi = percentile_ci(metrics_from_counts(correct, total)["auc"].mean(axis=1))
        return hi - lo

    seeds = percentile_ci(seed_bootstrap(np.full(5, M.hard_label_auc(y, pred)), n_boot=2000, rng=rng))
    assert seeds[0] == seeds[1]
    one_seed = resample_counts(shared[:1], np.zeros((2000, 1), int), rng)
    single = percentile_ci(metrics_from_counts(*one_seed)["auc"][:, 0])
    assert width(shared) == pytest.approx(single[1] - single[0], abs=0.03)  # one test set's noise, ~0.28
    assert width(shared) > 0.2 and width(separate) < 0.7 * width(shared)  # ~1/sqrt(5) when independent


def test_probability_of_improvement_identical_and_dominating() -> None:
    x = np.array([0.7, 0.8, 0.75, 0.9])
    assert probability_of_improvement(x, x) == 0.5
    assert probability_of_improvement(x + 0.21, x) == 1.0  # every run better than every baseline run
    assert probability_of_improvement(x, x + 0.21) == 0.0
    assert probability_of_improvement(x - 0.21, x, higher=False) == 1.0  # a gap: lower is better
    assert probability_of_improvement([1.0, 0.0], [0.5]) == 0.5
    direct = np.mean([[float(a > b) + 0.5 * (a == b) for b in x[::-1] + 0.01] for a in x])
    assert probability_of_improvement(x, x[::-1] + 0.01) == pytest.approx(direct)


def _selected_frame(values: dict[str, list[float]], settings: tuple[str, ...] = ("s1", "s2")) -> pd.DataFrame:
    rows = []
    for setting in settings:
        for method, vals in values.items():
            for seed, v in enumerate(vals):
                rows.append({"experiment": "main", "protocol": "paper", "bargain_epochs": 3, "val_per_cell": 1,
                             "setting": setting, "method": method, "seed": seed,
                             "run_dir": f"{setting}/{method}/{seed}", "auc": v, "worst_group_auc": v - 0.1,
                             "group_auc_gap": 1 - v})
    return pd.DataFrame(rows)


def test_improvement_probabilities_half_for_identical_one_for_dominating() -> None:
    base = [0.70, 0.74, 0.78, 0.72, 0.76]
    frame = _selected_frame({"ltr": base, "nbs_ltr": base, "forml": base, "nbs_forml": [v + 0.1 for v in base]})
    poi = improvement_probabilities(frame, n_boot=500).set_index(["setting", "method", "metric"])
    for setting in ("s1", "s2", "all"):
        same = poi.loc[(setting, "nbs_ltr", "auc")]
        assert same["p_improve"] == 0.5 and same["ci_low"] <= 0.5 <= same["ci_high"]
        for metric in ("auc", "worst_group_auc", "group_auc_gap"):  # the gap is lower-is-better
            better = poi.loc[(setting, "nbs_forml", metric)]
            assert better["p_improve"] == 1.0 and better["ci_low"] == 1.0
    assert poi.loc[("all", "nbs_forml", "auc"), "n_settings"] == 2
    assert poi.loc[("all", "all", "auc"), "p_improve"] == pytest.approx(0.75)
    assert poi.loc[("all", "all", "auc"), "n_settings"] == 2
    rel = poi.loc[("s1", "nbs_forml", "auc")]
    assert rel["rel_improve"] == pytest.approx(0.1 / np.mean(base))
    assert (poi["ci_kind"] == CI_KINDS["seeds"]).all()


def test_summary_resamples_rows_when_predictions_exist(tmp_path: Path) -> None:
    for seed in range(4):
        write_predicted_run(tmp_path, method="ltr", seed=seed, accuracy=0.8)
        write_predicted_run(tmp_path, method="nbs_ltr", seed=seed, accuracy=0.8)
    (tmp_path / "main/paper/titanic-sex/nbs_ltr/T3-k3/seed3/predictions.npz").unlink()
    selected = select_epochs(collect_runs(tmp_path))
    counts = load_selected_counts(selected)
    assert len(counts) == 7
    summary = bootstrap_summary(selected, ["auc", "score_auc"], counts, by=("method",)).set_index(["method", "metric"])
    # the fixture's runs name no shared test set: each seed's own test set is in the seed spread already
    assert summary.loc[("ltr", "auc"), "ci_kind"] == CI_KINDS["own"]
    assert summary.loc[("nbs_ltr", "auc"), "ci_kind"] == CI_KINDS["seeds"]  # one run lacks its predictions
    assert summary.loc[("ltr", "score_auc"), "ci_kind"] == CI_KINDS["scores"]  # not a function of the counts
    values = selected[selected["method"] == "ltr"]["auc"]
    assert summary.loc[("ltr", "auc"), "mean"] == pytest.approx(values.mean())
    assert summary.loc[("ltr", "auc"), "std"] == pytest.approx(values.std(ddof=1))
    lo, hi = summary.loc[("ltr", "auc"), ["ci_low", "ci_high"]]
    assert 0 <= lo < values.mean() < hi <= 1


def test_predictions_that_disagree_with_metrics_are_an_error(tmp_path: Path) -> None:
    path = write_predicted_run(tmp_path, method="ltr", seed=0, accuracy=0.8)
    other = write_predicted_run(tmp_path, method="forml", seed=0, accuracy=0.6)
    (other.parent / "predictions.npz").replace(path.parent / "predictions.npz")
    selected = select_epochs(collect_runs(tmp_path))
    with pytest.raises(ValueError, match="predictions at epoch .* metrics.csv has"):
        load_selected_counts(selected)


def test_settings_with_different_reference_hyperparameters_pool_together() -> None:
    base = [0.70, 0.74, 0.78]
    frame = _selected_frame({"ltr": base, "nbs_ltr": [v + 0.1 for v in base]})
    frame.loc[frame["setting"] == "s2", "bargain_epochs"] = 7  # each setting has its own reference T
    ablation = frame.assign(experiment="ablation_T", run_dir=frame["run_dir"] + "-ablation")
    ablation = pd.concat([ablation, ablation.assign(bargain_epochs=0, run_dir=ablation["run_dir"] + "-T0")])
    poi = improvement_probabilities(pd.concat([frame, ablation]), n_boot=200)
    pooled = poi[(poi["setting"] == "all") & (poi["method"] == "nbs_ltr") & (poi["metric"] == "auc")]
    main = pooled[pooled["experiment"] == "main"]
    assert len(main) == 1 and main["n_settings"].iloc[0] == 2 and main["bargain_epochs"].iloc[0] == -1
    per_T = pooled[pooled["experiment"] == "ablation_T"].set_index("bargain_epochs")
    assert per_T.loc[0, "n_settings"] == 2  # T = 0 in both settings: one family
    assert per_T.loc[3, "n_settings"] == 1 and per_T.loc[7, "n_settings"] == 1


def test_joint_row_bootstrap_covers_the_mean_when_seeds_share_one_test_set() -> None:
    """Every seed scores the same test rows (the paper protocol): rows that are hard for one seed are hard
    for all. The joint row bootstrap covers the expected AUC at about the nominal rate; seeds alone do not."""
    rng = np.random.default_rng(7)
    p_cell = np.array([0.7, 0.8, 0.6, 0.9])  # cells (g0,y0), (g0,y1), (g1,y0), (g1,y1)
    truth = float((0.9 * p_cell + 0.1 * (1 - p_cell)).mean())  # each seed flips 10 % of the rows
    n_seeds, n_cell, reps = 6, 12, 200
    y, group = np.tile(np.repeat([0, 1], n_cell), 2), np.repeat([0, 1], 2 * n_cell)
    covered_joint = covered_seeds = 0
    for _ in range(reps):
        base = rng.random(y.size) < p_cell[2 * group + y]
        units = []
        for _ in range(n_seeds):
            right = np.where(rng.random(y.size) < 0.1, ~base, base)
            c = counts_from_predictions(y, group, np.where(right, y, 1 - y), 2)
            units.append(CellCounts(c.correct, c.total, c.right, c.cell, split="one-test-set"))
        idx = rng.integers(0, n_seeds, size=(500, n_seeds))
        lo, hi = percentile_ci(metrics_from_counts(*resample_counts(units, idx, rng))["auc"].mean(axis=1))
        covered_joint += lo <= truth <= hi
        values = np.array([float(metrics_from_counts(u.correct, u.total)["auc"]) for u in units])
        lo, hi = percentile_ci(seed_bootstrap(values, n_boot=500, rng=rng))
        covered_seeds += lo <= truth <= hi
    assert 0.9 <= covered_joint / reps <= 0.995, covered_joint / reps
    assert covered_seeds / reps < 0.6  # the seeds' spread misses the shared test-set noise


def test_ci_legend_does_not_blame_missing_predictions_for_score_metrics() -> None:
    from fairbench.reports.tables import _ci_legend

    rows = [{"setting": "titanic-sex", "method": m, "metric": metric, "ci_kind": kind}
            for m in ("ltr", "nbs_ltr") for metric, kind in (("auc", CI_KINDS["rows"]), ("score_auc", CI_KINDS["scores"]))]
    legend = _ci_legend(pd.DataFrame(rows))
    assert "t-interval of the seed mean" in legend and "row variance" in legend
    assert "no predictions.npz" not in legend and "Score AUC: seeds only" in legend
    rows[0]["ci_kind"] = CI_KINDS["seeds"]
    assert "§: seeds only (the runs have no predictions.npz" in _ci_legend(pd.DataFrame(rows))
    own = [{**row, "ci_kind": CI_KINDS["own"] if row["metric"] == "auc" else row["ci_kind"]} for row in rows[1:]]
    legend = _ci_legend(pd.DataFrame(own))
    assert "own test set, the seed spread already holds the test-set noise" in legend and "row variance" not in legend
