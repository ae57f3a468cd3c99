"""Project-level contracts: pinned install path, conda file in sync, CI runs the README's test command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[_norm(name)] = version
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in project["dependencies"] + extras["test"] + extras["slurm"]]


def test_torch_is_pinned_to_the_cpu_wheel_version() -> None:
    torch_req = next(r for r in _pyproject_requirements() if r.name == "torch")
    assert str(torch_req.specifier) == "==2.13.0"
    assert _constraints()["torch"] == "2.13.0"


def test_every_dependency_is_pinned_and_admitted_by_pyproject() -> None:
    pins = _constraints()
    for req in _pyproject_requirements():
        assert _norm(req.name) in pins, f"{req.name} missing from constraints.txt"
        assert req.specifier.contains(pins[_norm(req.name)], prereleases=True), (req, pins[_norm(req.name)])


def test_environment_yml_lists_the_same_pinned_dependencies() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {}
    for entry in pip_section:
        if entry.startswith("-e"):
            continue
        name, _, version = entry.partition("==")
        listed[_norm(name)] = version
    pins = _constraints()
    assert set(listed) == {_norm(r.name) for r in _pyproject_requirements()}
    assert all(listed[name] == pins[name] for name in listed)
    assert "python=3.11" in env["dependencies"]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```(?:bash|sh)\n(.*?)```", text, flags=re.S)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    blocks = _readme_commands()
    test_commands = [line for block in blocks for line in block.splitlines() if "pytest" in line]
    assert test_commands, "README must show the test command"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_commands[0].strip() in [line.strip() for line in ci]


def test_readme_main_command_runs_snakemake() -> None:
    blocks = _readme_commands()
    assert any("snakemake --cores all" in block for block in blocks)


#: Where the code cites the write-ups in docs/ (docstrings, comments, messages, the README).
CITING = ("fairbench", "baselines", "workflow", "tests", "config")
CITING_SUFFIXES = {".py", ".smk", ".yaml", ".yml"}
DOC_CITATION = re.compile(r"docs/([A-Za-z0-9_.-]+\.md)[^\w§\n]{0,3}(§\d+)?")
BARE_CITATION = re.compile(r"(?<![\w/.-])(method|datasets|SOURCES)\.md\b")


def _citing_files(root: Path) -> list[Path]:
    files = [root / "README.md", root / "Snakefile"]
    for folder in CITING:
        files += [p for p in sorted((root / folder).rglob("*")) if p.suffix in CITING_SUFFIXES and p.is_file()]
    return [p for p in files if p.exists() and p.resolve() != Path(__file__).resolve()]


def cited_docs_problems(root: Path) -> list[str]:
    """Every ``docs/<name>.md`` (and ``§N``) cited in the code must exist; bare ``method.md`` etc. may not."""
    problems = []
    for path in _citing_files(root):
        text = path.read_text(encoding="utf-8", errors="replace")
        where = path.relative_to(root)
        for match in DOC_CITATION.finditer(text):
            doc = root / "docs" / match.group(1)
            if not doc.is_file():
                problems.append(f"{where}: cites docs/{match.group(1)}, which does not exist")
            elif match.group(2) and not re.search(rf"^#+ {match.group(2)}\b", doc.read_text(), flags=re.M):
                problems.append(f"{where}: cites docs/{match.group(1)} {match.group(2)}, which has no such section")
        problems += [f"{where}: cites {m.group(0)} without its docs/ path" for m in BARE_CITATION.finditer(text)]
    return problems


def test_every_cited_doc_exists() -> None:
    assert cited_docs_problems(ROOT) == []


def test_a_missing_doc_or_section_is_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "method.md").write_text("# Method\n\n## §1 Setting\n")
    (tmp_path / "fairbench").mkdir()
    (tmp_path / "fairbench" / "a.py").write_text('"""See docs/method.md §1 and docs/method.md §3, docs/nope.md;\n'
                                                 'also method.md §2."""\n')
    assert cited_docs_problems(tmp_path) == [
        "fairbench/a.py: cites docs/method.md §3, which has no such section",
        "fairbench/a.py: cites docs/nope.md, which does not exist",
        "fairbench/a.py: cites method.md without its docs/ path",
    ]
