"""``fairbench report compare``: a rerun against stored run records, run by run."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from fairbench.cli import main
from fairbench.reports.compare import compare_metrics, compare_trees

RUN = "main/paper/adult-sex/nbs_ltr/default/seed0"


def _tree(root: Path, runs: dict[str, pd.DataFrame]) -> Path:
    for run, frame in runs.items():
        (root / run).mkdir(parents=True)
        frame.to_csv(root / run / "metrics.csv", index=False)
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
    assert "no metrics.csv below it" in capsys.readouterr().err


def test_the_committed_run_records_agree_with_themselves(tmp_path: Path) -> None:
    committed = Path(__file__).resolve().parents[1] / "results/runs/main/paper/titanic-sex"
    shutil.copytree(committed / "erm", tmp_path / "erm")
    results = compare_trees(tmp_path, committed)
    assert {r.status for r in results} == {"identical", "extra"}
    assert sum(r.status == "identical" for r in results) == 5
