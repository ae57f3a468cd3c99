"""Run records are files people exchange: the report commands treat them as untrusted input (names that
become paths, field types, sizes, encodings, links, mixed code versions) and fail with one line."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairbench.cli import main
from fairbench.io import OutputError
from fairbench.reports.collect import collect_notes, collect_runs, read_collected, write_collected
from fairbench.reports.compare import compare_trees
from fairbench.runs.execute import check_out_dir
from fairbench.runs.predictions import ExpectedShape, expected_shape, load_predictions, save_predictions
from tests.test_reports_fixtures import write_grid, write_run


def _edit(run_json: Path, change) -> None:
    record = json.loads(run_json.read_text())
    change(record)
    run_json.write_text(json.dumps(record))


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize(("command", "field", "key"), [
    ("figures", "config.setting", ("setting",)),
    ("tables", "config.protocol.name", ("protocol", "name")),
    ("tables", "config.method", ("method",)),
])
def test_a_name_that_would_leave_the_output_folder_is_refused(tmp_path: Path, capsys, command: str, field: str,
                                                              key: tuple[str, ...]) -> None:
    paths = write_grid(tmp_path / "runs", settings=["adult-sex"], methods=["erm", "nbs_ltr"], protocols=["standard"],
                       seeds=range(2), epochs=4)
    evil = "x/../../../../outside/evil"

    def change(record: dict) -> None:
        target = record["config"]
        for part in key[:-1]:
            target = target[part]
        target[key[-1]] = evil

    _edit(paths[0], change)
    assert main(["report", command, "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "out" / "a" / "b")]) == 2
    err = _error(capsys)
    assert str(paths[0]) in err and field in err and repr(evil) in err
    assert not (tmp_path / "outside").exists() and not (tmp_path / "out").exists()


def test_a_collected_table_with_an_unsafe_name_is_refused(tmp_path: Path) -> None:
    write_run(tmp_path / "runs", seed=0)
    frame = collect_runs(tmp_path / "runs")
    frame["setting"] = "../../evil"
    path = write_collected(frame, tmp_path / "runs.parquet")
    with pytest.raises(ValueError, match="setting '../../evil' is not a name"):
        read_collected(path)


@pytest.mark.parametrize(("change", "field"), [
    (lambda r: r["config"].update(protocol="paper"), "config.protocol is 'paper'"),
    (lambda r: r.update(data="adult"), "data is 'adult'"),
    (lambda r: r["config"].update(seed="abc"), "config.seed is 'abc'"),
    (lambda r: r["config"]["hparams"].update(epochs="8"), "config.hparams.epochs is '8'"),
    (lambda r: r.update(status=["complete"]), "status is ['complete']"),
])
def test_fields_of_the_wrong_type_name_the_file_and_the_field(tmp_path: Path, capsys, change, field: str) -> None:
    write_run(tmp_path / "runs", seed=0)
    bad = write_run(tmp_path / "runs", seed=1)
    _edit(bad, change)
    assert main(["report", "tables", "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "t")]) == 2
    err = _error(capsys)
    assert str(bad) in err and field in err


def test_a_run_json_that_is_not_utf8_or_is_a_folder_is_named(tmp_path: Path) -> None:
    write_run(tmp_path / "a", seed=0)
    bad = write_run(tmp_path / "a", seed=1)
    bad.write_bytes(b'{"status": "complete", "config": {"setting": "caf\xe9"}}')
    with pytest.raises(ValueError, match=r"not UTF-8 text: byte 0xe9") as info:
        collect_runs(tmp_path / "a")
    assert str(bad) in str(info.value)
    write_run(tmp_path / "b", seed=0)
    folder = tmp_path / "b" / "other" / "run.json"
    folder.mkdir(parents=True)
    with pytest.raises(ValueError, match="it is a folder, not a file"):
        collect_runs(tmp_path / "b")


def test_training_into_a_folder_whose_run_json_is_odd(tmp_path: Path) -> None:
    (tmp_path / "run" / "run.json").mkdir(parents=True)
    with pytest.raises(OutputError, match="is a folder, not a run record"):
        check_out_dir(tmp_path / "run", force=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "run.json").write_bytes(b"\xff\xfe not a record")
    assert check_out_dir(tmp_path / "other") == tmp_path / "other"  # no codec error: not a finished run


def test_a_huge_run_json_is_refused_before_it_is_read(tmp_path: Path) -> None:
    bad = write_run(tmp_path, seed=0)
    with open(bad, "a") as handle:
        handle.write(" " * (2 << 20))
    with pytest.raises(ValueError, match="a run record has at most"):
        collect_runs(tmp_path)


def test_a_collected_table_is_usable_from_another_folder(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "project").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    write_run(Path("runs"), seed=0)
    write_collected(collect_runs("runs"), "runs.parquet")
    monkeypatch.chdir(tmp_path)
    frame = read_collected("project/runs.parquet")
    [run_dir] = frame["run_dir"].unique()
    assert Path(run_dir).is_dir() and (Path(run_dir) / "run.json").is_file()
    monkeypatch.chdir(tmp_path / "project")
    assert list(read_collected("runs.parquet")["run_dir"].unique()) == ["runs/main/paper/adult-sex/erm/T4-k3/seed0"]
    os.rename(tmp_path / "project" / "runs", tmp_path / "moved")
    with pytest.raises(FileNotFoundError, match="run folder 'runs/main/paper/adult-sex/erm/T4-k3/seed0' not found"):
        read_collected("runs.parquet")


def test_runs_that_differ_in_a_protocol_switch_are_not_averaged(tmp_path: Path) -> None:
    write_run(tmp_path, seed=0)
    other = write_run(tmp_path, seed=1)
    _edit(other, lambda r: r["config"]["protocol"].update(headline_auc="score"))
    with pytest.raises(ValueError, match="differ in its switch 'headline_auc'") as info:
        collect_runs(tmp_path)
    assert str(other) in str(info.value)


def test_records_that_predate_a_switch_or_differ_in_version_are_said_so(tmp_path: Path, capsys) -> None:
    paths = write_grid(tmp_path / "runs", settings=["adult-sex"], methods=["erm", "nbs_ltr"], protocols=["standard"],
                       seeds=range(2), epochs=4)
    _edit(paths[0], lambda r: r["config"]["protocol"].pop("init"))
    for i, path in enumerate(paths):
        _edit(path, lambda r, i=i: r.update(versions={"fairbench": "0.1.0" if i else "0.0.9"}))
    frame = collect_runs(tmp_path / "runs")
    notes = collect_notes(frame)
    assert len(notes) == 2
    assert "1 runs of the 'standard' protocol predate its switch 'init'" in notes[0]
    assert "0.0.9: 1 runs, 0.1.0: 3 runs" in notes[1]
    assert collect_notes(read_collected(write_collected(frame, tmp_path / "t.parquet"))) == notes
    assert main(["report", "tables", "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "t")]) == 0
    out = capsys.readouterr().out
    assert "note: 1 runs of the 'standard' protocol predate" in out and "different fairbench versions" in out


def test_symlinked_run_folders_are_collected_and_compared(tmp_path: Path, capsys) -> None:
    real = write_run(tmp_path / "elsewhere", seed=0).parent
    (tmp_path / "runs" / "main" / "paper" / "adult-sex" / "erm" / "T4-k3").mkdir(parents=True)
    link = tmp_path / "runs" / "main" / "paper" / "adult-sex" / "erm" / "T4-k3" / "seed0"
    link.symlink_to(real, target_is_directory=True)
    (tmp_path / "runs" / "loop").symlink_to(tmp_path / "runs", target_is_directory=True)  # a loop ends
    assert collect_runs(tmp_path / "runs")["run_dir"].unique().tolist() == [str(link)]
    results = compare_trees(tmp_path / "elsewhere", tmp_path / "runs")
    assert [r.status for r in results] == ["identical"]
    assert main(["report", "compare", str(tmp_path / "runs"), "--against", str(tmp_path / "elsewhere")]) == 0
    assert "1 identical" in capsys.readouterr().out


def test_a_tree_compared_with_itself_is_said_so(tmp_path: Path, capsys) -> None:
    write_run(tmp_path / "runs", seed=0)
    assert main(["report", "compare", str(tmp_path / "runs"), "--against", str(tmp_path / "runs" / ".")]) == 2
    assert "are the same folder" in _error(capsys)


def _predicted_run(tmp_path: Path, n_test: int, groups: np.ndarray | None = None) -> Path:
    run_json = write_run(tmp_path, epochs=3)
    _edit(run_json, lambda r: r["data"].update(n_test=8))
    group = np.zeros(n_test, dtype=int) if groups is None else groups
    save_predictions(run_json.parent / "predictions.npz", np.zeros(n_test, dtype=int), group,
                     np.zeros((3, n_test), dtype=np.uint8))
    return run_json


def test_predictions_larger_than_run_json_says_are_refused_before_unpacking(tmp_path: Path, monkeypatch) -> None:
    run_json = _predicted_run(tmp_path, n_test=200_000)
    shape = expected_shape(json.loads(run_json.read_text()))
    assert shape == ExpectedShape(n_test=8, epochs=3, n_groups=2)

    def no_unpacking(*args, **kwargs):
        raise AssertionError("unpacked before its size was checked")

    monkeypatch.setattr("fairbench.runs.predictions.np.load", no_unpacking)
    with pytest.raises(ValueError, match=r"unpacks to \d+ bytes, more than the \d+ that the 8 test rows"):
        load_predictions(run_json.parent / "predictions.npz", shape)


def test_predictions_that_disagree_with_run_json_are_refused(tmp_path: Path) -> None:
    run_json = _predicted_run(tmp_path / "a", n_test=9)
    with pytest.raises(ValueError, match="9 test rows, but run.json records 8"):
        load_predictions(run_json.parent / "predictions.npz", expected_shape(json.loads(run_json.read_text())))
    run_json = _predicted_run(tmp_path / "b", n_test=8, groups=np.array([0, 1, 0, 1, 0, 1, 0, 30_000]))
    with pytest.raises(ValueError, match="group index 30000, but run.json records 2 groups"):
        load_predictions(run_json.parent / "predictions.npz", expected_shape(json.loads(run_json.read_text())))


def test_an_os_error_in_a_report_command_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    write_grid(tmp_path / "runs", settings=["adult-sex"], methods=["erm", "nbs_ltr"], protocols=["standard"],
               seeds=range(2), epochs=4)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "t" / "main_standard.md"))

    monkeypatch.setattr("fairbench.reports.tables.write_tables", disk_full)
    assert main(["report", "tables", "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "t")]) == 2
    err = _error(capsys)
    assert "main_standard.md: No space left on device; free some space" in err


def test_findings_checks_its_output_folders_before_reading_runs(tmp_path: Path, capsys) -> None:
    (tmp_path / "a_file").write_text("")
    for option in ("--out", "--csv", "--html"):
        argv = ["report", "findings", "--root", str(tmp_path / "no_runs_here"), "--out", str(tmp_path / "F.md"),
                option, str(tmp_path / "a_file" / "x")]
        assert main(argv) == 2
        assert "a_file is a file" in _error(capsys)
