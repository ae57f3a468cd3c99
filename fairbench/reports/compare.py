"""Compare two trees of run records (e.g. a rerun against the committed results), run by run.

Runs are matched by their path below each root (``<experiment>/<protocol>/<setting>/<method>/<variant>/
seed<k>``, symbolic links to folders followed); a run folder is one that holds ``run.json`` or ``metrics.csv``. Two runs agree when both
records say ``complete`` and every per-epoch number in ``metrics.csv`` is equal, timing columns aside;
otherwise the report gives the largest absolute difference and the column it occurs in. A run that is
not complete on either side (failed, unfinished) is never "identical", and neither is one whose files
are unreadable or disagree with each other (:func:`fairbench.reports.collect.read_metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fairbench.reports.collect import METRICS_FILE, RUN_FILE, read_metrics, read_record, walk_files

SAME_TREE_MESSAGE = ("{first} and {second} are the same folder: every run would agree with itself; compare a "
                     "rerun in another folder with the stored records (e.g. rerun/runs --against results/runs)")
#: Columns that measure the machine, not the run.
TIMING_COLUMNS: tuple[str, ...] = ("epoch_seconds",)

#: Every status of a compared run path, in the order the summary counts them.
STATUSES: tuple[str, ...] = ("identical", "different", "failed", "invalid", "missing", "extra")


@dataclass(frozen=True)
class RunComparison:
    """Outcome for one run path: ``status`` is "identical", "different", "failed" (not complete in
    either tree), "invalid" (unreadable or inconsistent files), "missing" (only in the first tree) or
    "extra" (only in the second); ``detail`` says why for "failed" and "invalid"."""

    run: str
    status: str
    max_abs_difference: float = 0.0
    column: str = ""
    detail: str = ""


def _run_folders(root: Path) -> dict[str, Path]:
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder of run records")
    folders = {path.parent for path in walk_files(root, (RUN_FILE, METRICS_FILE))}
    return {str(folder.relative_to(root)): folder for folder in sorted(folders)}


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


def _load(folder: Path) -> tuple[str, pd.DataFrame | None, str]:
    """("complete", metrics, "") for a usable finished run, else ("failed" | "invalid", None, why)."""
    run_json = folder / RUN_FILE
    if not run_json.is_file():
        return "invalid", None, f"{folder}: metrics.csv without run.json (not a finished run)"
    try:
        record = read_record(run_json)
    except ValueError as error:
        return "invalid", None, str(error)
    if record["status"] != "complete":
        error = record.get("error") or "no error recorded"
        return "failed", None, f"{run_json}: status {record['status']!r} ({error})"
    if not (folder / METRICS_FILE).is_file():
        return "invalid", None, f"{folder}: run is marked complete but has no metrics.csv"
    try:
        return "complete", read_metrics(folder / METRICS_FILE, record), ""
    except ValueError as error:
        return "invalid", None, str(error)


def compare_runs(first: Path, second: Path, run: str) -> RunComparison:
    """Compare the run folder ``first`` with ``second`` (both exist), reporting under the name ``run``."""
    (status_a, a, why_a), (status_b, b, why_b) = _load(first), _load(second)
    for status in ("invalid", "failed"):
        reasons = [why for s, why in ((status_a, why_a), (status_b, why_b)) if s == status]
        if reasons:
            return RunComparison(run, status, detail="; ".join(reasons))
    assert a is not None and b is not None
    worst, column = compare_metrics(a, b)
    return RunComparison(run, "identical" if worst == 0.0 else "different", worst, column)


def compare_trees(first: Path | str, second: Path | str) -> list[RunComparison]:
    """Compare every run below ``first`` with the run at the same path below ``second``; the same folder
    twice is a ValueError (it would agree with itself whatever it holds)."""
    left, right = _run_folders(Path(first)), _run_folders(Path(second))
    if Path(first).resolve() == Path(second).resolve():
        raise ValueError(SAME_TREE_MESSAGE.format(first=first, second=second))
    if not left:
        raise FileNotFoundError(f"{first}: no run.json or metrics.csv below it; pass the folder that holds "
                                "the run folders")
    out = [compare_runs(folder, right[run], run) if run in right else RunComparison(run, "missing")
           for run, folder in left.items()]
    out += [RunComparison(run, "extra") for run in right if run not in left]
    return out


def summary_lines(results: list[RunComparison], first: str, second: str) -> list[str]:
    """Human-readable report: one line per run that does not agree, then the counts."""
    lines = []
    for r in results:
        if r.status == "different":
            lines.append(f"different  {r.run}: max |difference| {r.max_abs_difference:.3g} in {r.column}")
        elif r.status in ("failed", "invalid"):
            lines.append(f"{r.status:<10} {r.run}: {r.detail}")
        elif r.status == "missing":
            lines.append(f"missing    {r.run}: not below {second}")
        elif r.status == "extra":
            lines.append(f"extra      {r.run}: not below {first}")
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    lines.append(f"{len(results)} run paths: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return lines
