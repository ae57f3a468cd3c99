"""``fairbench report`` commands, through a parser built with ``register``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from fairbench.reports.cli import register
from tests.test_reports_fixtures import write_grid, write_run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fairbench")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def _run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return args.func(args)


def test_tables_from_a_root_and_from_run_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = write_grid(tmp_path / "runs", settings=["adult-sex"], methods=["ltr", "nbs_ltr"], protocols=["paper"],
                       seeds=range(3), epochs=4)
    write_run(tmp_path / "runs", method="ltr", seed=5, status="failed", epochs=4)
    assert _run(["report", "tables", "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "a")]) == 0
    assert "excluded 1 failed" in capsys.readouterr().out
    assert (tmp_path / "a" / "main_paper.md").exists()
    assert _run(["report", "tables", "--runs", *map(str, paths), "--out", str(tmp_path / "b"),
                 "--test", "wilcoxon", "--selection", "last"]) == 0
    assert "Wilcoxon" in (tmp_path / "b" / "paired_tests.md").read_text()
    assert "the last epoch" in (tmp_path / "b" / "main_paper.md").read_text()


def test_collect_then_tables_and_figures_from_the_parquet_table(tmp_path: Path) -> None:
    paths = write_grid(tmp_path / "runs", settings=["adult-sex"], methods=["ltr", "nbs_ltr"], protocols=["standard"],
                       seeds=range(3), epochs=4)
    bad = write_run(tmp_path / "runs", method="ltr", seed=5, status="failed", epochs=4)
    table = tmp_path / "agg" / "runs.parquet"
    assert _run(["report", "collect", "--runs", *map(str, [*paths, bad]), "--out", str(table)]) == 0
    assert _run(["report", "tables", "--collected", str(table), "--out", str(tmp_path / "t")]) == 0
    assert "Failed or unfinished runs (excluded): 1" in (tmp_path / "t" / "index.md").read_text()
    assert _run(["report", "figures", "--collected", str(table), "--out", str(tmp_path / "f")]) == 0
    assert (tmp_path / "f" / "alignment_standard_adult-sex.png").exists()
    with pytest.raises(SystemExit):  # collect reads run folders only
        _parser().parse_args(["report", "collect", "--collected", str(table), "--out", str(table)])


def test_figures_command(tmp_path: Path) -> None:
    write_grid(tmp_path / "runs", settings=["titanic-sex"], methods=["erm", "nbs_ltr"], protocols=["standard"],
               seeds=range(2), epochs=4)
    assert _run(["report", "figures", "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig" / "curves_standard_titanic-sex.png").exists()


def test_inputs_are_required_and_exclusive(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["report", "tables", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        _parser().parse_args(["report", "tables", "--root", "a", "--runs", "b"])


def test_synthetic_defaults() -> None:
    args = _parser().parse_args(["report", "synthetic"])
    assert args.out == "regenerated/figures/synthetic" and args.steps == 120 and args.func.__name__ == "_run_synthetic"


@pytest.mark.parametrize("command", [["figures", "--root", "runs"], ["synthetic"]])
def test_figure_commands_do_not_write_into_the_committed_results_by_default(command: list[str]) -> None:
    out = Path(_parser().parse_args(["report", *command]).out)
    assert out.parts[0] == "regenerated" and "results" not in out.parts
