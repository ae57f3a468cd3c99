"""``fairbench bench`` on a small real setting: every row printed, ratios to ERM, the breakdown."""

from __future__ import annotations

import re

import pytest

from fairbench.cli import main

pytestmark = pytest.mark.mirror


def test_bench_prints_ratios_and_the_breakdown(prepared_small, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--prepared", str(prepared_small), "--settings", "titanic-sex", "--repeats", "3",
                 "--warmup", "1", "--reference-repeats", "1", "--breakdown"]) == 0
    out = capsys.readouterr().out
    for label in ("erm", "ltr", "nbs_ltr", "reference_nbs_ltr"):
        assert re.search(rf"titanic-sex\s+4 {label}\s+\d+\.\d+\s+\d+\.\d+", out), label
    assert re.search(r"titanic-sex\s+4 erm\s+\d+\.\d+\s+1\.00", out)
    assert "faster than the reference step" in out
    for part in ("dropout masks", "forward, first layer reused", "backward", "hypergradients", "NBS solve"):
        assert re.search(rf"{re.escape(part)}.*\d+\.\d+", out), part
