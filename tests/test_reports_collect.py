"""Collecting run folders into one long table (fairbench.reports.collect)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from fairbench.reports.collect import (collect_runs, failed_runs, find_run_files, prefer_experiments, read_collected,
                                       write_collected)
from tests.test_reports_fixtures import write_run


def test_long_table_has_one_row_per_run_and_epoch(tmp_path: Path) -> None:
    for seed in (0, 1):
        write_run(tmp_path, method="nbs_ltr", seed=seed, epochs=5, bargain_epochs=3)
    write_run(tmp_path, method="erm", seed=0, epochs=5)
    frame = collect_runs(tmp_path)
    assert len(frame) == 3 * 5
    assert frame.groupby("run_dir")["epoch"].apply(list).map(lambda e: e == [1, 2, 3, 4, 5]).all()
    nbs = frame[frame["method"] == "nbs_ltr"].iloc[0]
    assert (nbs["protocol"], nbs["setting"], nbs["bargain_epochs"], nbs["val_per_cell"]) == ("paper", "adult-sex", 3, 3)
    assert nbs["stage1_epochs"] == 2  # paper protocol bargains while epoch < T
    assert nbs["epoch_selection"] == "test_seed_mean"
    assert set(frame["experiment"]) == {"main"}


def test_failed_runs_are_excluded_and_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_run(tmp_path, method="ltr", seed=0)
    bad = write_run(tmp_path, method="ltr", seed=1, status="failed")
    with caplog.at_level(logging.WARNING):
        frame = collect_runs(tmp_path)
    assert set(frame["seed"]) == {0}
    failed = failed_runs(frame)
    assert list(failed["run_dir"]) == [str(bad.parent)]
    assert failed["status"].iloc[0] == "failed" and "non-finite" in failed["error"].iloc[0]
    assert str(bad.parent) in caplog.text
    # the failure list survives the selection step
    from fairbench.reports.selection import select_epochs
    assert len(failed_runs(select_epochs(frame))) == 1


def test_unfinished_run_is_reported_like_a_failed_one(tmp_path: Path) -> None:
    write_run(tmp_path, seed=0)
    write_run(tmp_path, seed=1, status="running", write_metrics=False)
    frame = collect_runs(tmp_path)
    assert list(failed_runs(frame)["status"]) == ["running"]


def test_complete_run_without_metrics_is_a_clear_error(tmp_path: Path) -> None:
    path = write_run(tmp_path, write_metrics=False)
    with pytest.raises(FileNotFoundError, match="no metrics.csv") as info:
        collect_runs([path])
    assert str(path.parent) in str(info.value)


def test_explicit_paths_and_root_give_the_same_table(tmp_path: Path) -> None:
    paths = [write_run(tmp_path, method=m, seed=s) for m in ("erm", "dro") for s in (0, 1)]
    by_root = collect_runs(tmp_path)
    by_list = collect_runs([str(p) for p in paths])
    by_folders = collect_runs([p.parent for p in paths])
    assert by_root.equals(by_list) and by_root.equals(by_folders)
    assert find_run_files(paths[:1]) == [paths[0]]


def test_experiment_from_the_layout_from_hyperparameters_or_caller(tmp_path: Path) -> None:
    write_run(tmp_path / "a", experiment_dir="my_study", bargain_epochs=15, val_per_cell=3)
    write_run(tmp_path / "b", experiment_dir=None, bargain_epochs=5)  # adult-sex reference T is 15
    write_run(tmp_path / "c", experiment_dir=None, bargain_epochs=15, val_per_cell=7)
    write_run(tmp_path / "d", experiment_dir=None, bargain_epochs=15, val_per_cell=3)
    frame = collect_runs(tmp_path).drop_duplicates("run_dir")
    label = dict(zip(frame["run_dir"].map(lambda p: Path(p).relative_to(tmp_path).parts[0]), frame["experiment"]))
    assert label == {"a": "my_study", "b": "ablation_T", "c": "ablation_val", "d": "main"}
    assert set(collect_runs([tmp_path / "a", tmp_path / "b"], experiment="custom")["experiment"]) == {"custom"}
    with pytest.raises(ValueError, match="same configuration"):  # a and d differ only in their label
        collect_runs(tmp_path, experiment="custom")


def test_collected_table_round_trips_through_parquet(tmp_path: Path) -> None:
    write_run(tmp_path / "runs", seed=0)
    write_run(tmp_path / "runs", seed=1, status="failed")
    frame = collect_runs(tmp_path / "runs")
    path = write_collected(frame, tmp_path / "runs.parquet")
    back = read_collected(path)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert failed_runs(back)["seed"].tolist() == [1]
    with pytest.raises(ValueError, match="Parquet"):
        write_collected(frame, tmp_path / "runs.csv")
    with pytest.raises(FileNotFoundError, match="report collect"):
        read_collected(tmp_path / "none.parquet")


def test_the_same_configuration_twice_is_refused(tmp_path: Path) -> None:
    write_run(tmp_path / "x", seed=0)
    write_run(tmp_path / "y", seed=0)
    with pytest.raises(ValueError, match="same configuration"):
        collect_runs(tmp_path)


def test_nothing_to_collect_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no run.json"):
        collect_runs(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such"):
        collect_runs([tmp_path / "missing" / "run.json"])
    write_run(tmp_path, status="failed")
    with pytest.raises(ValueError, match="none of the 1 runs is complete"):
        collect_runs(tmp_path)


def test_not_a_run_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="not a run"):
        collect_runs([path])


def test_prefer_experiments_keeps_one_run_per_configuration(tmp_path: Path) -> None:
    write_run(tmp_path, experiment_dir="main", method="nbs_ltr", bargain_epochs=15)
    write_run(tmp_path, experiment_dir="ablation_T", method="nbs_ltr", bargain_epochs=15)
    write_run(tmp_path, experiment_dir="ablation_T", method="nbs_ltr", bargain_epochs=5)
    frame = collect_runs(tmp_path)
    kept = prefer_experiments(frame, ["ablation_T", "main"]).drop_duplicates("run_dir")
    assert sorted(zip(kept["experiment"], kept["bargain_epochs"])) == [("ablation_T", 5), ("ablation_T", 15)]
    kept = prefer_experiments(frame, ["main", "ablation_T"]).drop_duplicates("run_dir")
    assert sorted(zip(kept["experiment"], kept["bargain_epochs"])) == [("ablation_T", 5), ("main", 15)]


@pytest.mark.parametrize("damage, problem", [
    (lambda text: "\n".join(text.splitlines()[:4]) + "\n", "3 epochs, but run.json records 8"),
    (lambda text: "", "the file is empty"),
    (lambda text: text.replace(text.splitlines()[2].split(",")[1], "oops", 1), "non-numeric value 'oops' in column"),
    (lambda text: "\n".join(line for i, line in enumerate(text.splitlines()) if i != 3) + "\n", "epoch column is not"),
])
def test_bad_metrics_name_the_file_and_the_problem(tmp_path: Path, damage, problem: str) -> None:
    write_run(tmp_path, seed=0)
    metrics = write_run(tmp_path, seed=1).parent / "metrics.csv"
    metrics.write_text(damage(metrics.read_text()))
    with pytest.raises(ValueError, match=problem) as info:
        collect_runs(tmp_path)
    assert str(metrics) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["metrics.csv", "run.json"])
def test_random_bytes_name_the_file(tmp_path: Path, name: str) -> None:
    path = write_run(tmp_path).parent / name
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ValueError) as info:
        collect_runs(tmp_path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("content", [b"", bytes(range(256)) * 8, b"PAR1 not really parquet PAR1"])
def test_a_damaged_collected_table_names_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "runs.parquet"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a readable Parquet table") as info:
        read_collected(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
