"""docs/paper_map.md: linked from the README, every committed output it names exists, and every
``fairbench`` command in it parses."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from fairbench import cli

ROOT = Path(__file__).resolve().parents[1]
MAP = ROOT / "docs" / "paper_map.md"


def test_the_readme_links_the_paper_map() -> None:
    assert "(docs/paper_map.md)" in (ROOT / "README.md").read_text()


def test_every_committed_output_named_in_the_map_exists() -> None:
    # the entry page is built by the pipeline's report_index rule with the tables (tested in test_report_browser)
    names = set(re.findall(r"`(results/[^`]+)`", MAP.read_text()))
    assert len(names) >= 8
    for name in names:
        pattern = re.sub(r"<[^>]+>", "*", name)
        assert list(ROOT.glob(pattern)), f"docs/paper_map.md names {name}, which is not in the repository"


def test_every_command_in_the_map_parses() -> None:
    commands = [c for c in re.findall(r"`(fairbench [^`]+)`", MAP.read_text())]
    assert len(commands) >= 4
    for command in commands:
        argv = shlex.split(command)[1:]
        args = cli.build_parser(full=[argv[0]]).parse_args(argv)
        assert "regenerated/" in str(getattr(args, "out", "regenerated/")), command


def test_the_distribution_name_is_not_the_unrelated_pypi_project() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "fairbench-nbs"
    assert "distribution is named `fairbench-nbs`" in (ROOT / "README.md").read_text()
