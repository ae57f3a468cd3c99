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
from fairbench.hparams import HyperParams, reference_hyperparams
from fairbench.io import write_json_atomic, write_with_atomic
from fairbench.meta import ValidationSet
from fairbench.predictions import save_predictions
from fairbench.protocols import Protocol, get_protocol
from fairbench.registry import build_method
from fairbench.tracking import Tracker
from fairbench.train import NonFiniteLossError, summarise, train

#: Per-epoch test-set hard predictions beside metrics.csv (fairbench.predictions).
PREDICTIONS_FILE = "predictions.npz"

FINISHED_RUN_MESSAGE = ("{path} holds a finished run; refusing to overwrite it. Delete the folder or "
                        "pass --force to train again.")


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
        """Reference hyper-parameters of ``setting`` with ``overrides`` applied (validated)."""
        hp = reference_hyperparams(setting).override(**(overrides or {}))
        return cls(setting=setting, method=method, seed=seed, protocol=get_protocol(protocol), hparams=hp)

    def to_dict(self) -> dict[str, Any]:
        return {"setting": self.setting, "method": self.method, "seed": self.seed,
                "protocol": self.protocol.to_dict(), "hparams": self.hparams.to_dict()}


def versions() -> dict[str, str]:
    """Versions that can change a run's numbers."""
    return {"fairbench": fairbench.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "pandas": pd.__version__, "python": sys.version.split()[0], "platform": platform.platform()}


def load_run_data(spec: RunSpec, prepared_dir: str | Path | None = None) -> SplitData:
    """The split a run trains on: the paper's split file, or a split drawn anew from the run's seed."""
    if spec.protocol.split == "paper":
        return load_split(spec.setting, split="paper", scaler_fit=spec.protocol.scaler_fit,
                          prepared_dir=prepared_dir)
    return load_split(spec.setting, split=spec.seed, scaler_fit=spec.protocol.scaler_fit,
                      test_with_replacement=spec.protocol.test_with_replacement,
                      val_per_cell=spec.hparams.val_per_cell, prepared_dir=prepared_dir)


def execute(spec: RunSpec, out_dir: str | Path, *, prepared_dir: str | Path | None = None, force: bool = False,
            wandb_mode: str | None = None, wandb_dir: str | Path | None = None, progress: bool = True) -> Path:
    """Train one run and write ``out_dir/metrics.csv``, ``predictions.npz`` and ``run.json`` (with the
    initial weights' fingerprint); returns ``out_dir``.

    A non-finite loss writes ``run.json`` with ``status: failed`` and the error (and no metrics.csv),
    then re-raises.
    """
    out = Path(out_dir)
    run_file = out / "run.json"
    if run_file.exists() and not force:
        try:
            finished = json.loads(run_file.read_text()).get("status") == "complete"
        except (json.JSONDecodeError, OSError):
            finished = False
        if finished:
            raise FileExistsError(FINISHED_RUN_MESSAGE.format(path=out))
    data = load_run_data(spec, prepared_dir)
    va = data.val.to_torch()
    method = build_method(spec.method, spec.hparams, spec.protocol,
                          ValidationSet.build(va.X, va.y, va.group, data.n_groups))
    record: dict[str, Any] = {
        "config": spec.to_dict(), "versions": versions(), "status": "running",
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "data": {"split": data.split, "n_train": len(data.train.y), "n_val": len(data.val.y),
                 "n_test": len(data.test.y), "n_features": data.n_features, "groups": data.group_names,
                 "cells": data.cell_names},
    }
    start = time.perf_counter()
    tracker = Tracker(name=f"{spec.protocol.name}-{spec.setting}-{spec.method}-s{spec.seed}",
                      group=f"{spec.setting}/{spec.method}", job_type="train", tags=[spec.protocol.name],
                      config=spec.to_dict(), mode=wandb_mode, directory=wandb_dir)
    try:
        with tracker:
            trace = train(data, method, spec.hparams, spec.protocol, spec.seed, progress=progress,
                          on_epoch=lambda row: tracker.log(row, step=int(row["epoch"])))
            summary = summarise(trace.rows)
            tracker.summary({f"last/{k}": v for k, v in summary["last_epoch"].items()})
    except NonFiniteLossError as error:
        record.update(status="failed", error=str(error), wall_seconds=time.perf_counter() - start)
        write_json_atomic(run_file, record)
        raise
    frame = pd.DataFrame(trace.rows)
    frame["epoch"] = frame["epoch"].astype(int)
    save_predictions(out / PREDICTIONS_FILE, data.test.y, data.test.group, trace.test_labels)
    write_with_atomic(out / "metrics.csv", lambda tmp: frame.to_csv(tmp, index=False, float_format="%.10g"))
    record.update(init_fingerprint=trace.init_fingerprint, predictions=PREDICTIONS_FILE)
    record.update(status="complete", wall_seconds=time.perf_counter() - start, train_seconds=trace.seconds,
                  steps=trace.steps, meta_steps=trace.meta_steps, epochs=len(trace.rows), summary=summary,
                  finished_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    write_json_atomic(run_file, record)
    return out
