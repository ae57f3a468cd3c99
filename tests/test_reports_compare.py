"""``fairbench report compare``: a rerun against stored run records, run by run."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from fairbench.cli import main
from fairbench.reports.compare import compare_metrics, compare_trees

RUN = "main/paper/adult-sex/nbs_ltr/default/seed0"


def _record(folder: Path, status: str = "complete", epochs: int = 2) -> None:
    record = {"status": status, "config": {"setting": "adult-sex", "method": "nbs_ltr", "seed": 0,
                                           "hparams": {"epochs": epochs}}}
    if status == "failed":
        record["error"] = "invalid hyper-parameters: lr must be a finite number (got nan)"
    (folder / "run.json").write_text(json.dumps(record))


def _tree(root: Path, runs: dict[str, pd.DataFrame], status: str = "complete") -> Path:
    for run, frame in runs.items():
        (root / run).mkdir(parents=True)
        frame.to_csv(root / run / "metrics.csv", index=False)
        _record(root / run, status, epochs=len(frame))
    return root


def _frame(auc: float = 0.8, seconds: float = 1.0) -> pd.DataFrame:
    return pd.DataFrame({"epoch": [1, 2], "auc": [0.7, auc], "alpha_mean": [math.nan, 1.5],
                         "epoch_seconds": [seconds, seconds]})


def test_identical_runs_agree_whatever_their_timings(tmp_path: Path) -> None:
    a = _tree(tmp_path / "a", {RUN: _frame(seconds=1.0)})
    b = _tree(tmp_path / "b", {RUN: _frame(seconds=9.0)})
    [result] = compare_trees(a, b)
    assert result.status == "identical" and result.max_abs_difference == 0.0
    assert main(["report", "compare", str(a), "--against", str(b)]) == 0


def test_a_changed_number_is_reported_with_its_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _tree(tmp_path / "a", {RUN: _frame(auc=0.8)})
    b = _tree(tmp_path / "b", {RUN: _frame(auc=0.8 + 1e-9)})
    [result] = compare_trees(a, b)
    assert result.status == "different" and result.column == "auc"
    assert result.max_abs_difference == pytest.approx(1e-9, rel=1e-3)
    assert main(["report", "compare", str(a), "--against", str(b)]) == 1
    assert "different  main/paper/adult-sex/nbs_ltr/default/seed0" in capsys.readouterr().out


def test_nan_on_one_side_only_is_a_difference() -> None:
    other = _frame()
    other.loc[0, "alpha_mean"] = 2.0
    assert compare_metrics(_frame(), other) == (math.inf, "alpha_mean")
    assert compare_metrics(_frame(), _frame().iloc[:1])[0] == math.inf


def test_missing_runs_fail_extra_runs_only_when_strict(tmp_path: Path) -> None:
    a = _tree(tmp_path / "a", {RUN: _frame()})
    b = _tree(tmp_path / "b", {RUN: _frame(), RUN.replace("seed0", "seed1"): _frame()})
    assert main(["report", "compare", str(a), "--against", str(b)]) == 0
    assert main(["report", "compare", str(a), "--against", str(b), "--strict"]) == 1
    assert main(["report", "compare", str(b), "--against", str(a)]) == 1  # seed1 is missing from a
    statuses = sorted(r.status for r in compare_trees(b, a))
    assert statuses == ["identical", "missing"]


def test_a_missing_folder_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _tree(tmp_path / "a", {RUN: _frame()})
    assert main(["report", "compare", str(a), "--against", str(tmp_path / "nowhere")]) == 2
    assert "no such folder of run records" in capsys.readouterr().err


def test_a_folder_without_runs_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    b = _tree(tmp_path / "b", {RUN: _frame()})
    assert main(["report", "compare", str(tmp_path / "empty"), "--against", str(b)]) == 2
    assert "no run.json or metrics.csv below it" in capsys.readouterr().err


def test_the_committed_run_records_agree_with_themselves(tmp_path: Path) -> None:
    committed = Path(__file__).resolve().parents[1] / "results/runs/main/paper/titanic-sex"
    shutil.copytree(committed / "erm", tmp_path / "erm")
    results = compare_trees(tmp_path, committed)
    assert {r.status for r in results} == {"identical", "extra"}
    assert sum(r.status == "identical" for r in results) == 5


def test_a_failed_run_beside_old_metrics_is_never_identical(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # what a forced rerun that failed used to leave: a failed run.json beside the earlier run's metrics.csv
    a = _tree(tmp_path / "a", {RUN: _frame()}, status="failed")
    b = _tree(tmp_path / "b", {RUN: _frame()})
    [result] = compare_trees(a, b)
    assert result.status == "failed" and "status 'failed'" in result.detail and "lr must be" in result.detail
    assert main(["report", "compare", str(a), "--against", str(b)]) == 1
    out = capsys.readouterr().out
    assert f"failed     {RUN}:" in out and "0 identical" in out and "1 failed" in out
    assert compare_trees(b, a)[0].status == "failed"  # on either side


def test_a_failed_run_without_metrics_is_not_reported_missing(tmp_path: Path) -> None:
    a = _tree(tmp_path / "a", {RUN: _frame()})
    (tmp_path / "b" / RUN).mkdir(parents=True)
    _record(tmp_path / "b" / RUN, "failed")
    assert [r.status for r in compare_trees(a, tmp_path / "b")] == ["failed"]


@pytest.mark.parametrize("damage, problem", [
    (lambda d: d.joinpath("metrics.csv").write_text(_frame().iloc[:1].to_csv(index=False)), "1 epochs, but run.json"),
    (lambda d: d.joinpath("run.json").unlink(), "without run.json"),
    (lambda d: d.joinpath("metrics.csv").write_bytes(b""), "the file is empty"),
])
def test_inconsistent_or_unreadable_runs_are_invalid(tmp_path: Path, damage, problem: str) -> None:
    a = _tree(tmp_path / "a", {RUN: _frame()})
    b = _tree(tmp_path / "b", {RUN: _frame()})
    damage(b / RUN)
    [result] = compare_trees(a, b)
    assert result.status == "invalid" and problem in result.detail and str(b / RUN) in result.detail
    assert main(["report", "compare", str(a), "--against", str(b)]) == 1
