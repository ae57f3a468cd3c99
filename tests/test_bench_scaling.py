"""``fairbench bench``'s table of the meta step and the NBS solve against the number of cells K."""

from __future__ import annotations

import math
import re

import pytest

from fairbench.perf.bench import cell_scaling, scaling_report
from fairbench.perf.bench_cli import parse_cells


def test_scaling_table_times_every_k() -> None:
    rows = cell_scaling([4, 20], repeats=1, warmup=0)
    assert [r[0] for r in rows] == [4, 20]
    assert all(math.isfinite(v) and v > 0 for r in rows for v in r[1:])
    text = scaling_report(rows)
    assert re.search(r"^\s+4\s+\d+\.\d+\s+1\.00\s+\d+\.\d+\s+1\.00\s+\d+\.\d+\s+1\.00$", text, re.M)
    assert re.search(r"^\s+20\s+\d+\.\d+\s+\d+\.\d+", text, re.M)


def test_cells_are_parsed_and_checked() -> None:
    assert parse_cells("4,10,20") == [4, 10, 20] and parse_cells("") == []
    with pytest.raises(ValueError, match="even numbers"):
        parse_cells("4,5")
    with pytest.raises(ValueError, match="comma-separated"):
        parse_cells("four")
