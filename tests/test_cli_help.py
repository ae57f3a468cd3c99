"""``fairbench --help`` and a command's help are fast: they import neither torch nor pandas unless the
command needs them to describe itself; ``train --help`` explains every hyper-parameter and its default."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from fairbench import cli
from fairbench.hparams import HyperParams

PROBE = """
import sys
from fairbench.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print("IMPORTED", sorted(m for m in ("torch", "pandas", "fairbench.data") if m in sys.modules))
"""


def _help_imports(argv: list[str]) -> tuple[str, list[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True,
                          timeout=300, check=True)
    head, _, imported = done.stdout.rpartition("IMPORTED ")
    return head, eval(imported)  # noqa: S307 - the probe prints a list literal


@pytest.mark.parametrize("argv, allowed", [
    (["--help"], set()), (["train", "--help"], set()), (["methods", "--help"], set()),
    # the report commands build their parsers from the modules that check run records (pandas, and the
    # data layer's name pattern); no torch either way
    (["scale", "--help"], set()), (["bench", "--help"], set()), (["report", "--help"], {"pandas", "fairbench.data"}),
])
def test_help_imports_no_torch(argv: list[str], allowed: set[str]) -> None:
    text, imported = _help_imports(argv)
    assert "usage: fairbench" in text
    assert set(imported) <= allowed, f"fairbench {' '.join(argv)} imported {imported}"


def test_the_top_level_help_lists_every_command_as_the_commands_describe_themselves() -> None:
    lazy, full = cli.build_parser(full=()).format_help(), cli.build_parser().format_help()
    assert lazy == full
    for name in ("data", "train", "methods", "bench", "scale", "report"):
        assert name in lazy.split("positional arguments:")[1]
    assert "``scale``" in cli.__doc__


def test_train_help_explains_every_hyper_parameter_and_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert set(cli.HP_HELP) == {f.name for f in dataclasses.fields(HyperParams)}
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--lr FLOAT learning rate of SGD (default: the setting's value, docs/method.md §5)" in text
    assert "--momentum FLOAT SGD momentum (default: 0.9, unless the setting sets its own)" in text
    for field in dataclasses.fields(HyperParams):
        assert f"--{field.name.replace('_', '-')}" in text and " ".join(cli.HP_HELP[field.name].split()) in text


def test_methods_names_each_nbs_variant_s_pair(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "nbs_ltr  (paper; paired with ltr)" in lines and "nbs_mgda" not in " ".join(lines)
    assert "mgda_ltr" in lines and "ltr  (paper)" in lines
