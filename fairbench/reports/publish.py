"""Log the finished tables and figures to one wandb run (``job_type="report"``); the files on disk
stay the source of truth. Writes a small JSON record of what was logged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from fairbench.io import write_json_atomic
from fairbench.runs.tracking import Tracker


def publish_report(tables_dir: str | Path, figure_dirs: list[str | Path], record_path: str | Path, *,
                   mode: str | None = None, project: str | None = None,
                   wandb_dir: str | Path | None = None) -> dict[str, Any]:
    """Log every ``*.csv`` table and ``*.png`` figure; return (and write) the record of what was logged."""
    tables = {f"tables/{p.stem}": pd.read_csv(p) for p in sorted(Path(tables_dir).glob("*.csv"))}
    images = {f"figures/{p.stem}": p for d in figure_dirs for p in sorted(Path(d).glob("*.png"))}
    if not tables and not images:
        raise FileNotFoundError(f"no tables (*.csv) in {tables_dir} and no figures (*.png) in {figure_dirs}")
    tracker = Tracker(name="report", group="report", job_type="report", tags=["report"],
                      config={"tables": sorted(tables), "figures": sorted(images)}, mode=mode,
                      project=project, directory=wandb_dir)
    with tracker:
        tracker.log_files(images=images, tables=tables)
    record = {"wandb_mode": tracker.mode, "tables": sorted(tables), "figures": sorted(images)}
    write_json_atomic(record_path, record)
    return record
