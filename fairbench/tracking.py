"""Experiment tracking with Weights & Biases. The local run files stay the source of truth; wandb
mirrors them. The mode is always explicit so that nothing waits for a login or the network:
``offline`` by default, ``online`` after ``wandb login``, ``disabled`` in tests."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

WANDB_MODES = ("online", "offline", "disabled")
DEFAULT_PROJECT = "fairbench"


def resolve_wandb_mode(explicit: str | None = None) -> str:
    """``explicit`` (config or CLI), else ``$WANDB_MODE``, else ``offline``; anything else is an error."""
    mode = explicit or os.environ.get("WANDB_MODE") or "offline"
    if mode not in WANDB_MODES:
        raise ValueError(f"unknown wandb mode {mode!r}; use one of {', '.join(WANDB_MODES)} "
                         "(set it with --wandb-mode or WANDB_MODE)")
    return mode


class Tracker:
    """One wandb run (``mode="disabled"`` never imports wandb). Use as a context manager."""

    def __init__(self, *, name: str, group: str, job_type: str, tags: list[str], config: dict[str, Any],
                 mode: str | None = None, project: str | None = None, directory: str | Path | None = None) -> None:
        self.mode = resolve_wandb_mode(mode)
        self._run: Any = None
        self._init = dict(project=project or os.environ.get("WANDB_PROJECT", DEFAULT_PROJECT), name=name,
                          group=group, job_type=job_type, tags=tags, config=config)
        self._dir = Path(directory) if directory is not None else None

    def __enter__(self) -> Tracker:
        if self.mode != "disabled":
            os.environ.setdefault("WANDB_SILENT", "true")
            import wandb

            kwargs: dict[str, Any] = dict(self._init, mode=self.mode, reinit="finish_previous")
            if self._dir is not None:
                self._dir.mkdir(parents=True, exist_ok=True)
                kwargs["dir"] = str(self._dir)
            self._run = wandb.init(**kwargs)
        return self

    def log(self, row: dict[str, Any], step: int | None = None) -> None:
        """Log one row (e.g. one epoch's metrics)."""
        if self._run is not None:
            self._run.log(row, step=step)

    def summary(self, values: dict[str, Any]) -> None:
        """Set run-level summary values."""
        if self._run is not None:
            self._run.summary.update(values)

    def log_files(self, images: dict[str, Path] | None = None, tables: dict[str, Any] | None = None) -> None:
        """Log images (PNG paths) and tables (pandas DataFrames) to the run."""
        if self._run is None:
            return
        import wandb

        payload: dict[str, Any] = {}
        for key, path in (images or {}).items():
            payload[key] = wandb.Image(str(path))
        for key, frame in (tables or {}).items():
            payload[key] = wandb.Table(dataframe=frame)
        if payload:
            self._run.log(payload)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._run is not None:
            self._run.finish(exit_code=0 if exc_type is None else 1)
            self._run = None
