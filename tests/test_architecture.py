"""The package's layers (docs/architecture.md) hold: import-linter's contracts in pyproject.toml pass on
the tree, and fail on a copy of it with one upward import or one import cycle added."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(config_filename='pyproject.toml'))"


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    """import-linter run on the packages of ``tree`` (its own copy comes first on the path)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([sys.executable, "-c", LINT], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=300)


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for name in ("fairbench", "baselines"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.npz", "*.yaml"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + "\n" + line + "\n", encoding="utf-8")


def test_the_import_contracts_hold() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    # an upward import: the method layer reaching up into the reports (which import the method: a cycle too)
    ("fairbench/method/nbs.py", "import fairbench.reports.stats  # noqa", ("Layers", "No import cycles")),
    # one training implementation importing the other (the seam's two sides stay independent)
    ("fairbench/training/mlp_step.py", "import fairbench.training.generic_step  # noqa", ("One trainer",)),
    # a cycle inside one layer: aggregation <-> two_stage
    ("fairbench/method/aggregation.py", "import fairbench.method.two_stage  # noqa", ("No import cycles",)),
])
def test_a_broken_layering_fails_the_contracts(tmp_path: Path, module: str, line: str,
                                               broken: tuple[str, ...]) -> None:
    tree = _copy(tmp_path)
    _append(tree / module, line)
    result = _lint(tree)
    assert result.returncode != 0, result.stdout[-3000:]
    verdicts = [ln.strip() for ln in result.stdout.splitlines() if ln.strip().endswith(("KEPT", "BROKEN"))]
    assert [v for v in verdicts if v.endswith("BROKEN")] == [v for v in verdicts if v.startswith(broken)], verdicts
