"""``fairbench data list | fetch | prepare`` through an argparse parser built with ``register``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from fairbench.data import list_settings
from fairbench.data.cli import EXIT_DATA_ERROR, register


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fairbench")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_list_shows_every_setting(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "titanic").mkdir()
    (tmp_path / "titanic/titanic3.csv").write_bytes(b"")
    assert run(["data", "list", "--data-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["setting", "dataset", "rows", "groups", "cells", "features", "cached", "spec"]
    rows = {line.split()[0]: line.split() for line in lines[1:-1]}
    assert list(rows) == list_settings()
    assert rows["adult-race"][1:6] == ["adult", "48842", "5", "10", "105"]
    assert rows["titanic-sex"][-2:] == ["yes", "-"] and rows["adult-sex"][-2:] == ["no", "-"]
    # the shipped declared settings are listed with their spec file
    assert rows["german-age"][1:] == ["german", "1000", "2", "4", "61", "no", "fairbench/data/specs/german.yaml"]
    assert rows["acs_income-sex"][1:6] == ["acs_income", "332900", "2", "4", "38"]
    assert lines[-1] == f"cache: {tmp_path}"


def test_unknown_dataset_is_one_line_and_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["data", "fetch", "lending_club"]) == EXIT_DATA_ERROR == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fairbench data: error: unknown dataset 'lending_club'")
    assert "adult, bank, default_credit, student_por, titanic, us_crime" in err


def test_unknown_setting_for_prepare(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(["data", "prepare", "adult", "--out", str(tmp_path)]) == 2
    assert "valid settings: adult-sex, adult-race" in capsys.readouterr().err


def test_bad_mirror_file_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "m/student").mkdir(parents=True)
    (tmp_path / "m/student/student-por.csv").write_text("not the data\n")
    code = run(["data", "fetch", "student_por", "--mirror", str(tmp_path / "m"), "--data-dir", str(tmp_path / "c")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "checksum mismatch for student/student-por.csv" in err
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").rglob("*.csv"))


def test_a_subcommand_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run(["data"])
    assert info.value.code == 2


@pytest.mark.mirror
def test_fetch_and_prepare(capsys: pytest.CaptureFixture[str], tmp_path: Path, mirror: Path) -> None:
    common = ["--mirror", str(mirror), "--data-dir", str(tmp_path / "cache")]
    assert run(["data", "fetch", "us_crime", *common]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:2] for line in out] == [["us_crime", "data"], ["us_crime", "names"]]
    assert run(["data", "prepare", "titanic-sex", "--out", str(tmp_path / "prep"), *common]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "prep/titanic-sex.parquet")
    assert (tmp_path / "prep/titanic-sex.json").is_file()


def test_prepare_default_out_dir() -> None:
    parser = argparse.ArgumentParser(prog="fairbench")
    register(parser.add_subparsers(dest="command", required=True))
    assert parser.parse_args(["data", "prepare", "adult-sex"]).out == "results/prepared"
