"""Degenerate runs: flagged, counted, marked in the tables, never bold (fairbench.reports.degenerate)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairbench.reports.bootstrap import counts_from_predictions, load_selected_counts
from fairbench.reports.collect import collect_runs
from fairbench.reports.degenerate import degenerate_counts, flag_degenerate, is_constant_from_rates
from fairbench.reports.selection import select_epochs
from fairbench.reports.tables import degenerate_table, main_table
from tests.test_reports_evidence_fixtures import write_predicted_run
from tests.test_reports_fixtures import write_run

METHODS = ("erm", "dro", "ltr", "forml", "meta_gdro", "nbs_ltr", "nbs_forml", "nbs_meta_gdro")


@pytest.fixture(scope="module")
def flagged(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("runs")
    for seed in range(3):
        for method in METHODS:
            if method == "erm":  # a constant predictor: AUC 0.5 and a gap of exactly 0
                write_predicted_run(root, method=method, seed=seed, constant=0)
            elif method == "dro" and seed == 0:  # near chance on 36 rows
                write_predicted_run(root, method=method, seed=seed, accuracy=0.55)
            else:
                write_predicted_run(root, method=method, seed=seed, accuracy=0.95)
    selected = select_epochs(collect_runs(root))
    return flag_degenerate(selected, load_selected_counts(selected))


def test_constant_and_chance_runs_are_flagged(flagged: pd.DataFrame) -> None:
    reasons = flagged.set_index(["method", "seed"])["degenerate_reason"]
    assert (reasons.loc["erm"] == "constant").all()
    assert reasons.loc[("dro", 0)] == "chance"
    good = flagged[flagged["method"].isin(METHODS[2:])]
    assert not good["degenerate"].any() and good["chance_tested"].all()
    assert (good["run_auc_low"] > 0.5).all()
    counts = degenerate_counts(flagged).set_index("method")
    assert counts.loc["erm", "n_degenerate"] == 3 and counts.loc["erm", "n_constant"] == 3
    assert counts.loc["dro", "n_degenerate"] == 1 and counts.loc["dro", "n_chance"] == 1
    assert counts.loc["ltr", "n_degenerate"] == 0 and counts["n_untested"].sum() == 0


def test_chance_interval_does_not_depend_on_the_results_folder(tmp_path: Path) -> None:
    # the same runs in two results folders (e.g. a local and a cluster run) give the same intervals
    intervals = []
    for folder in ("a", "elsewhere/b"):
        write_predicted_run(tmp_path / folder, method="dro", seed=0, accuracy=0.7, n_cell=500)
        selected = select_epochs(collect_runs(tmp_path / folder))
        intervals.append(flag_degenerate(selected, load_selected_counts(selected))[["run_auc_low", "run_auc_high"]])
    pd.testing.assert_frame_equal(intervals[0], intervals[1])


def test_constant_from_rates_without_predictions() -> None:
    cols = ["tpr/a", "tpr/b", "fpr/a", "fpr/b"]
    assert is_constant_from_rates(dict(zip(cols, [0.0, 0.0, 0.0, 0.0])), cols)
    assert is_constant_from_rates(dict(zip(cols, [1.0, 1.0, 1.0, 1.0])), cols)
    assert not is_constant_from_rates(dict(zip(cols, [1.0, 0.0, 1.0, 0.0])), cols)  # one class per group
    assert not is_constant_from_rates(dict(zip(cols, [0.7, 0.8, 0.2, 0.1])), cols)
    y, g = np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1])
    assert counts_from_predictions(y, g, np.zeros(4, int), 2).correct.tolist() == [[1, 0], [1, 0]]


def test_runs_without_predictions_are_checked_for_constant_predictions(tmp_path: Path) -> None:
    zeros = [0.0] * 4
    write_run(tmp_path, method="erm", epochs=4,
              overrides={"tpr/female": zeros, "tpr/male": zeros, "fpr/female": zeros, "fpr/male": zeros})
    write_run(tmp_path, method="ltr", epochs=4)
    flagged = flag_degenerate(select_epochs(collect_runs(tmp_path)), {})
    by = flagged.set_index("method")
    assert by.loc["erm", "degenerate_reason"] == "constant" and not by.loc["erm", "chance_tested"]
    assert not by.loc["ltr", "degenerate"]


def test_degenerate_methods_are_marked_and_never_bold(flagged: pd.DataFrame) -> None:
    table = main_table(flagged, "paper", counts={})
    rows = {row[1].text: row for row in table.rows}
    assert "ERM ‡ 3/3" in rows and "DRO ‡ 1/3" in rows and "LtR" in rows
    gap_column = table.header.index("Max-gAUCD")
    erm_gap = flagged[flagged["method"] == "erm"]["group_auc_gap"]
    assert (erm_gap == 0).all()  # the lowest gap of the table...
    assert not rows["ERM ‡ 3/3"][gap_column].bold  # ...is not bold
    assert any(row[gap_column].bold for row in table.rows)  # the best real method is
    assert not any(cell.bold for cell in rows["DRO ‡ 1/3"])
    data = table.data.set_index("method")
    assert data.loc["erm", "n_degenerate"] == 3 and not data.loc["erm", "group_auc_gap_best"]
    assert any("‡" in line and "0.5" in line for line in table.legend)
    counts = degenerate_table(flagged, counts={})
    assert counts.name == "degenerate_runs"
    assert counts.data.set_index("method").loc["erm", "n_constant"] == 3


def test_every_table_marks_degenerate_methods(flagged: pd.DataFrame, tmp_path: Path) -> None:
    from fairbench.reports.stats import improvement_probabilities, paired_tests
    from fairbench.reports.tables import alignment_table, improvement_table, paired_tests_table

    frame = collect_runs(Path(flagged["run_dir"].iloc[0]).parents[5])
    alignment = alignment_table(frame, "paper", methods=("ltr", "nbs_ltr", "forml", "nbs_forml"), flagged=flagged)
    assert {row[1].text for row in alignment.rows} >= {"LtR", "NBS+LtR"}
    flagged = flagged.copy()
    flagged.loc[(flagged["method"] == "ltr") & (flagged["seed"] == 0), ["degenerate", "degenerate_reason"]] = \
        (True, "chance")  # one degenerate seed of a compared method
    alignment = alignment_table(frame, "paper", methods=("ltr", "nbs_ltr"), flagged=flagged)
    assert "LtR ‡ 1/3" in {row[1].text for row in alignment.rows}
    tests = paired_tests_table(paired_tests(flagged, ["auc"]), flagged=flagged)
    assert any(row[4].text == "NBS+LtR vs LtR ‡ 1/3" for row in tests.rows)
    assert any("‡" in line for line in tests.legend)
    poi = improvement_table(improvement_probabilities(flagged, {}, n_boot=100), flagged=flagged)
    texts = [row[3].text for row in poi.rows]
    assert "NBS+LtR vs LtR ‡ 1/3" in texts and "NBS+FORML vs FORML" in texts
