"""Compare two trees of run records (e.g. a rerun against the committed results), run by run.

Runs are matched by their path below each root (``<experiment>/<protocol>/<setting>/<method>/<variant>/
seed<k>``). Two runs agree when every per-epoch number in ``metrics.csv`` is equal, timing columns
aside; otherwise the report gives the largest absolute difference and the column it occurs in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: Columns that measure the machine, not the run.
TIMING_COLUMNS: tuple[str, ...] = ("epoch_seconds",)


@dataclass(frozen=True)
class RunComparison:
    """Outcome for one run path: ``status`` is "identical", "different", "missing" (only in the
    first tree) or "extra" (only in the second)."""

    run: str
    status: str
    max_abs_difference: float = 0.0
    column: str = ""


def _metrics_files(root: Path) -> dict[str, Path]:
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder of run records")
    return {str(path.parent.relative_to(root)): path for path in sorted(root.rglob("metrics.csv"))}


def compare_metrics(a: pd.DataFrame, b: pd.DataFrame) -> tuple[float, str]:
    """Largest absolute difference between two metrics tables and its column (inf when the
    columns or the number of epochs differ; NaN equals NaN)."""
    a = a.drop(columns=[c for c in TIMING_COLUMNS if c in a.columns])
    b = b.drop(columns=[c for c in TIMING_COLUMNS if c in b.columns])
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return float("inf"), "columns or epochs"
    worst, where = 0.0, ""
    for column in a.columns:
        x, y = a[column].to_numpy(dtype=float), b[column].to_numpy(dtype=float)
        both_nan = np.isnan(x) & np.isnan(y)
        gap = np.where(both_nan, 0.0, np.abs(x - y))
        gap = np.where(np.isnan(gap), np.inf, gap)  # NaN on one side only
        if gap.size and gap.max() > worst:
            worst, where = float(gap.max()), column
    return worst, where


def compare_trees(first: Path | str, second: Path | str) -> list[RunComparison]:
    """Compare every run below ``first`` with the run at the same path below ``second``."""
    left, right = _metrics_files(Path(first)), _metrics_files(Path(second))
    if not left:
        raise FileNotFoundError(f"{first}: no metrics.csv below it; pass the folder that holds the run folders")
    out = []
    for run, path in left.items():
        if run not in right:
            out.append(RunComparison(run, "missing"))
            continue
        worst, column = compare_metrics(pd.read_csv(path), pd.read_csv(right[run]))
        out.append(RunComparison(run, "identical" if worst == 0.0 else "different", worst, column))
    out += [RunComparison(run, "extra") for run in right if run not in left]
    return out


def summary_lines(results: list[RunComparison], first: str, second: str) -> list[str]:
    """Human-readable report: one line per run that does not agree, then the counts."""
    lines = []
    for r in results:
        if r.status == "different":
            lines.append(f"different  {r.run}: max |difference| {r.max_abs_difference:.3g} in {r.column}")
        elif r.status == "missing":
            lines.append(f"missing    {r.run}: not below {second}")
        elif r.status == "extra":
            lines.append(f"extra      {r.run}: not below {first}")
    counts = {s: sum(r.status == s for r in results) for s in ("identical", "different", "missing", "extra")}
    lines.append(f"{len(results)} run paths: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return lines
