"""One benchmark run on disk: resolve the configuration, train, write ``metrics.csv`` and ``run.json``
atomically, and refuse to overwrite a finished run unless asked to."""

from __future__ import annotations

import datetime as dt
import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import fairbench
from fairbench.data import SplitData, load_split
from fairbench.data.hyperparams import reference_hyperparams
from fairbench.hparams import HyperParams
from fairbench.data.registry import get_setting
from fairbench.training.device import describe as describe_device
from fairbench.training.device import resolve_device
from fairbench.data.splits import PAPER_OPTIONS_FIXED
from fairbench.io import OutputError, StagedFiles, check_writable_folder, write_json_atomic
from fairbench.method.meta import ValidationSet
from fairbench.runs.predictions import save_predictions
from fairbench.evaluation.protocols import Protocol, get_protocol
from fairbench.registry import build_method
from fairbench.runs.tracking import Tracker
from fairbench.training.loop import summarise, train
from fairbench.training.step import PARETO_ULPS, NonFiniteLossError
from fairbench.training.generic_step import model_record

#: Per-epoch test-set hard predictions beside metrics.csv (fairbench.runs.predictions).
PREDICTIONS_FILE = "predictions.npz"

RUN_FILE = "run.json"
METRICS_FILE = "metrics.csv"
#: The files a run writes beside ``run.json``. A rerun replaces all of them or none; a failed run
#: removes them, so no file of an earlier run is ever read as this run's.
RUN_OUTPUTS = (METRICS_FILE, PREDICTIONS_FILE)

FINISHED_RUN_MESSAGE = ("{path} holds a finished run; refusing to overwrite it. Delete the folder or "
                        "pass --force to train again.")
WRITE_FAILED_MESSAGE = ("{path}: could not write the run's files ({reason}); the files that were there are "
                        "unchanged. Free some space or choose another --out, then train again.")
FAILURE_RECORD_FAILED = ("{path}: the run failed ({error}) and its failure record could not be written "
                         "({reason}); the earlier run's record was removed.")
PAPER_VAL_PER_CELL = ("val_per_cell={value} cannot be used with the paper protocol: {fixed} "
                      "(use the standard protocol, or leave val_per_cell at {k})")


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines a run's numbers."""

    setting: str
    method: str
    seed: int
    protocol: Protocol
    hparams: HyperParams

    @classmethod
    def resolve(cls, setting: str, method: str, seed: int, protocol: str,
                overrides: dict[str, Any] | None = None) -> RunSpec:
        """Reference hyper-parameters of ``setting`` with ``overrides`` applied (validated, and checked
        against the protocol: :meth:`check_protocol_options`)."""
        hp = reference_hyperparams(setting).override(**(overrides or {}))
        spec = cls(setting=setting, method=method, seed=seed, protocol=get_protocol(protocol), hparams=hp)
        return spec.check_protocol_options()

    def check_protocol_options(self) -> RunSpec:
        """Refuse an option that the protocol would ignore, so that ``run.json`` never records a value
        that was not used: the paper split fixes the validation rows per cell. Returns ``self``."""
        if self.protocol.split == "paper":
            k = get_setting(self.setting).val_per_cell
            if self.hparams.val_per_cell != k:
                raise ValueError(PAPER_VAL_PER_CELL.format(value=self.hparams.val_per_cell, k=k,
                                                           fixed=PAPER_OPTIONS_FIXED.format(k=k)))
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"setting": self.setting, "method": self.method, "seed": self.seed,
                "protocol": self.protocol.to_dict(), "hparams": self.hparams.to_dict()}


def versions() -> dict[str, str]:
    """Versions that can change a run's numbers."""
    return {"fairbench": fairbench.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "pandas": pd.__version__, "python": sys.version.split()[0], "platform": platform.platform()}


def load_run_data(spec: RunSpec, prepared_dir: str | Path | None = None) -> SplitData:
    """The split a run trains on: the paper's split file, or a split drawn anew from the run's seed.
    Options the paper split cannot honour are refused (by the split code) rather than ignored."""
    if spec.protocol.split == "paper":
        return load_split(spec.setting, split="paper", scaler_fit=spec.protocol.scaler_fit,
                          val_per_cell=spec.hparams.val_per_cell, prepared_dir=prepared_dir)
    return load_split(spec.setting, split=spec.seed, scaler_fit=spec.protocol.scaler_fit,
                      test_with_replacement=spec.protocol.test_with_replacement,
                      val_per_cell=spec.hparams.val_per_cell, prepared_dir=prepared_dir)


def execute(spec: RunSpec, out_dir: str | Path, *, prepared_dir: str | Path | None = None, force: bool = False,
            wandb_mode: str | None = None, wandb_dir: str | Path | None = None, progress: bool = True,
            device: torch.device | str = "cpu", wandb_name: str | None = None,
            wandb_group: str | None = None) -> Path:
    """Train one run on ``device`` (``cpu``, ``cuda``, ``cuda:N`` or ``auto``) and write
    ``out_dir/metrics.csv``, ``predictions.npz`` and ``run.json`` (with the model, the device and the
    initial weights' fingerprint); returns ``out_dir``. The wandb run (:class:`Tracker`) is named
    ``wandb_name`` and grouped under ``wandb_group`` (default: :func:`tracking_names`); its files go
    below ``wandb_dir`` (default: ``out_dir``), never into the current folder.

    The folder is checked before any work (:func:`check_out_dir`). A non-finite loss writes ``run.json``
    with ``status: failed`` and the error, removes the files of :data:`RUN_OUTPUTS` (an earlier run's
    too), then re-raises. The new files replace the old ones together once all are written
    (:class:`fairbench.io.StagedFiles`); a write that fails (e.g. a full disk) raises
    :class:`fairbench.io.OutputError` and leaves the folder as it was.
    """
    device = resolve_device(str(device)) if not isinstance(device, torch.device) else device
    out = check_out_dir(out_dir, force=force)
    data = load_run_data(spec, prepared_dir)
    model = model_record(data, spec.hparams)  # a model that cannot read this data fails here
    va = data.val.to_torch()
    method = build_method(spec.method, spec.hparams, spec.protocol,
                          ValidationSet.build(va.X, va.y, va.group, data.n_groups))
    record: dict[str, Any] = {
        "config": spec.to_dict(), "versions": versions(), "status": "running",
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "data": {"split": data.split, "n_train": len(data.train.y), "n_val": len(data.val.y),
                 "n_test": len(data.test.y), "n_features": data.n_features, "groups": data.group_names,
                 "cells": data.cell_names},
        "model": model, "device": describe_device(device),
        "diagnostics": {"pareto_tolerance_ulps": PARETO_ULPS},
    }
    start = time.perf_counter()
    name, group = tracking_names(spec)
    tracker = Tracker(name=wandb_name or name, group=wandb_group or group, job_type="train",
                      tags=[spec.protocol.name, spec.setting, spec.method], config=spec.to_dict(), mode=wandb_mode,
                      directory=wandb_dir if wandb_dir is not None else out)
    try:
        with tracker:
            trace = train(data, method, spec.hparams, spec.protocol, spec.seed, progress=progress, device=device,
                          on_epoch=lambda row: tracker.log(row, step=int(row["epoch"])))
            summary = summarise(trace.rows)
            tracker.summary({f"last/{k}": v for k, v in summary["last_epoch"].items()})
    except NonFiniteLossError as error:
        record.update(status="failed", error=str(error), wall_seconds=time.perf_counter() - start)
        _record_failure(out, record)
        raise
    frame = pd.DataFrame(trace.rows)
    frame["epoch"] = frame["epoch"].astype(int)
    record.update(init_fingerprint=trace.init_fingerprint, predictions=PREDICTIONS_FILE)
    record.update(status="complete", wall_seconds=time.perf_counter() - start, train_seconds=trace.seconds,
                  steps=trace.steps, meta_steps=trace.meta_steps, epochs=len(trace.rows), summary=summary,
                  finished_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    try:
        with StagedFiles(out) as staged:
            save_predictions(staged.path(PREDICTIONS_FILE), data.test.y, data.test.group, trace.test_labels)
            frame.to_csv(staged.path(METRICS_FILE), index=False, float_format="%.10g")
            write_json_atomic(staged.path(RUN_FILE), record)
            staged.commit(replaces=RUN_OUTPUTS, last=(RUN_FILE,))
    except OSError as error:
        raise OutputError(WRITE_FAILED_MESSAGE.format(path=out, reason=error.strerror or error)) from None
    return out


def tracking_names(spec: RunSpec) -> tuple[str, str]:
    """Default wandb run name and group of a run trained outside the pipeline: the run's protocol,
    setting, method and seed, and the configuration without the seed (the pipeline passes its run
    folder instead, which also names the experiment and the variant)."""
    group = f"{spec.protocol.name}/{spec.setting}/{spec.method}"
    return f"{group}/seed{spec.seed}", group


def summary_line(out: str | Path) -> str:
    """One line for a finished run: its folder, status, epochs and the metrics at the epoch of lowest
    validation meta loss (the standard protocol's per-run selection, docs/protocols.md §3)."""
    record = json.loads((Path(out) / RUN_FILE).read_text())
    if record.get("status") != "complete":
        return f"{out}: {record.get('status')}: {record.get('error', '')}"
    chosen = record["summary"]["val_selected_epoch"]
    metrics = ", ".join(f"{key} {chosen[key]:.4f}" for key in ("auc", "worst_group_auc", "group_auc_gap", "tpr_gap")
                        if key in chosen)
    return (f"{out}: complete, {record['epochs']} epochs in {record['wall_seconds']:.1f} s; "
            f"validation-selected epoch {int(chosen['epoch'])}: {metrics}")


def record_failed_run(spec: RunSpec, out_dir: str | Path, error: BaseException) -> Path:
    """A failure record (status ``failed``, the error in one line) for a run that raised before it
    finished; a record the run wrote itself (a NaN loss) and a complete run are kept. Returns the
    ``run.json``."""
    out = Path(out_dir)
    run_file = out / RUN_FILE
    try:
        status = json.loads(run_file.read_text()).get("status") if run_file.is_file() else None
    except (json.JSONDecodeError, OSError, AttributeError):
        status = None
    if status in ("complete", "failed"):
        return run_file
    out.mkdir(parents=True, exist_ok=True)
    message = (str(error).strip().splitlines() or [""])[0] or type(error).__name__
    _record_failure(out, {"config": spec.to_dict(), "versions": versions(), "status": "failed",
                          "error": message, "error_type": type(error).__name__,
                          "failed_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
    return run_file


def check_out_dir(out_dir: str | Path, *, force: bool = False) -> Path:
    """Before any work: ``out_dir`` is (or can become) a writable folder, and holds no finished run
    unless ``force``. Raises :class:`fairbench.io.OutputError` or ``FileExistsError``."""
    out = check_writable_folder(out_dir, "run folder")
    run_file = out / RUN_FILE
    if run_file.exists() and not run_file.is_file():
        raise OutputError(f"{run_file} is a folder, not a run record; move it away or choose another run folder")
    if run_file.exists() and not force:
        try:
            finished = json.loads(run_file.read_text(encoding="utf-8")).get("status") == "complete"
        except (json.JSONDecodeError, UnicodeDecodeError, OSError, AttributeError):
            finished = False  # not a record this code wrote: the run replaces it
        if finished:
            raise FileExistsError(FINISHED_RUN_MESSAGE.format(path=out))
    return out


def _record_failure(out: Path, record: dict[str, Any]) -> None:
    """Write the failed ``run.json``, then remove the run's data files (an earlier run's included)."""
    try:
        write_json_atomic(out / RUN_FILE, record)
    except OSError as error:
        (out / RUN_FILE).unlink(missing_ok=True)
        for name in RUN_OUTPUTS:
            (out / name).unlink(missing_ok=True)
        raise OutputError(FAILURE_RECORD_FAILED.format(path=out, error=record.get("error"),
                                                       reason=error.strerror or error)) from None
    for name in RUN_OUTPUTS:
        (out / name).unlink(missing_ok=True)
