"""Test fixtures for the report tests: run folders with the real layout (run.json + metrics.csv) and
made-up numbers. Nothing here comes from training; every number is generated below."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fairbench.evaluation.protocols import PROTOCOLS

GROUPS = ("female", "male")
CELLS = ("female_y0", "female_y1", "male_y0", "male_y1")
META = ("ltr", "forml", "meta_gdro")


def stage1_epochs(protocol: str, T: int, epochs: int) -> int:
    return min(PROTOCOLS[protocol].stage1_epochs(T), epochs)


def fake_metrics(method: str, *, epochs: int, stage1: int, seed: int, salt: str = "", effect: float = 0.0,
                 noise: float = 0.01, overrides: Mapping[str, Sequence[float]] | None = None) -> pd.DataFrame:
    """Plausible per-epoch metrics: AUC rises and saturates, ``effect`` shifts AUC up and the gap down."""
    rng = np.random.default_rng([seed, *(ord(ch) for ch in method + "|" + salt)])
    e = np.arange(1, epochs + 1, dtype=float)
    auc = 0.70 + effect + 0.08 * (1 - np.exp(-e / 3)) + noise * rng.standard_normal(epochs)
    gap = np.clip(0.15 - effect + noise * rng.standard_normal(epochs), 0.0, 1.0)
    meta = method in META or any(method.endswith("_" + m) for m in META)
    two_stage = meta and method not in META
    frame = pd.DataFrame({
        "epoch": e.astype(int), "train_loss": 0.6 * np.exp(-e / 5) + 0.2,
        "auc": auc, "score_auc": auc + 0.05, "worst_group_auc": auc - gap / 2, "group_auc_gap": gap,
        "tpr_gap": gap * 1.5, "fpr_gap": gap, "equalized_odds_difference": gap * 1.5,
        "demographic_parity_difference": gap / 2, "f1": auc - 0.1, "accuracy": auc + 0.02,
        "worst_group_score_auc": auc, "group_score_auc_gap": gap / 2,
        "val_auc": auc - 0.02, "val_score_auc": auc, "val_worst_group_auc": auc - gap,
        "val_meta_loss": 1.2 - auc + noise * rng.standard_normal(epochs),
    })
    for g, sign in zip(GROUPS, (-1, 1)):
        frame[f"auc/{g}"] = auc + sign * gap / 2
        frame[f"score_auc/{g}"] = auc + 0.05 + sign * gap / 4
        frame[f"tpr/{g}"] = 0.7 + sign * gap
        frame[f"fpr/{g}"] = 0.2 + sign * gap / 2
        frame[f"f1/{g}"] = auc - 0.1 + sign * gap / 2
    nan = np.full(epochs, np.nan)
    stage = np.where(e <= stage1, 1.0, 2.0) if two_stage else (np.full(epochs, 2.0) if meta else nan)
    align = np.where(stage == 1, 0.9, 0.3) if meta else nan
    frame["stage"] = stage
    frame["alignment_rate"] = align
    frame["applied_alignment_rate"] = align * 0.9 if meta else nan
    frame["nbs_solvable_rate"] = np.where(stage == 1, 0.95, 0.5) if meta else nan
    frame["nbs_failures"] = (1 - frame["nbs_solvable_rate"]) * 10
    frame["aggregator_failure_rate"] = np.where(stage == 1, 0.05, np.nan) if two_stage else nan
    frame["aggregator_failures"] = frame["aggregator_failure_rate"] * 10
    frame["alpha_mean"] = np.where(stage == 1, 1.3, np.nan) if two_stage else nan
    frame["pareto_improvement_rate"] = 0.4 if meta else 0.2
    for c in CELLS:
        frame[f"val_cell_loss_before/{c}"] = 1.0 - auc
        frame[f"val_cell_loss_after/{c}"] = 0.99 - auc
    frame["epoch_seconds"] = 0.1
    frame["steps"] = e * 10
    for column, values in (overrides or {}).items():
        frame[column] = np.asarray(values, dtype=float)
    return frame


def write_run(root: Path, *, setting: str = "adult-sex", method: str = "erm", seed: int = 0,
              protocol: str = "paper", epochs: int = 8, bargain_epochs: int = 4, val_per_cell: int = 3,
              status: str = "complete", experiment_dir: str | None = "main", effect: float = 0.0,
              noise: float = 0.01, overrides: Mapping[str, Sequence[float]] | None = None,
              write_metrics: bool = True, fair_lambda: float = 1.0) -> Path:
    """Write one run folder and return its run.json path: the workflow's layout
    ``<experiment>/<protocol>/<setting>/<method>/<variant>/seed<k>``, or one flat folder when
    ``experiment_dir`` is None. Every record holds ``fair_lambda`` (the regularisers' weight), as real runs do."""
    variant = f"T{bargain_epochs}-k{val_per_cell}"
    if experiment_dir is None:
        folder = Path(root) / f"{protocol}-{setting}-{method}-{variant}-seed{seed}"
    else:
        folder = Path(root) / experiment_dir / protocol / setting / method / variant / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    hparams = {"lr": 1e-3, "dropout": 0.2, "batch_size": 512, "epochs": epochs, "bargain_epochs": bargain_epochs,
               "val_per_cell": val_per_cell, "fair_lambda": fair_lambda}
    record = {"status": status, "config": {"setting": setting, "method": method, "seed": seed,
                                           "protocol": PROTOCOLS[protocol].to_dict(), "hparams": hparams},
              "wall_seconds": 1.0, "steps": epochs * 10, "data": {"groups": list(GROUPS), "cells": list(CELLS)}}
    if status == "failed":
        record["error"] = "non-finite training loss (nan) at epoch 3"
    elif write_metrics:
        frame = fake_metrics(method, epochs=epochs, stage1=stage1_epochs(protocol, bargain_epochs, epochs),
                             seed=seed, salt=f"{protocol}/{setting}/{bargain_epochs}/{val_per_cell}", effect=effect,
                             noise=noise, overrides=overrides)
        frame.to_csv(folder / "metrics.csv", index=False)
    (folder / "run.json").write_text(json.dumps(record))
    return folder / "run.json"


PAPER8 = ("erm", "dro", "ltr", "forml", "meta_gdro", "nbs_ltr", "nbs_forml", "nbs_meta_gdro")


def write_grid(root: Path, *, settings: Iterable[str] = ("adult-sex", "titanic-sex"),
               methods: Iterable[str] = PAPER8, seeds: Iterable[int] = range(4),
               protocols: Iterable[str] = ("paper", "standard"), effects: Mapping[str, float] | None = None,
               **kw: object) -> list[Path]:
    """A full (protocol x setting x method x seed) grid; ``effects[method]`` shifts AUC and gap."""
    effects = dict(effects or {})
    return [write_run(root, setting=s, method=m, seed=k, protocol=p, effect=effects.get(m, 0.0), **kw)
            for p in protocols for s in settings for m in methods for k in seeds]


def test_fixture_runs_have_the_metrics_layout(tmp_path: Path) -> None:
    path = write_run(tmp_path, method="nbs_ltr", protocol="paper", epochs=6, bargain_epochs=4)
    frame = pd.read_csv(path.parent / "metrics.csv")
    assert list(frame["epoch"]) == [1, 2, 3, 4, 5, 6]
    assert list(frame["stage"]) == [1, 1, 1, 2, 2, 2]  # paper protocol: T - 1 bargaining epochs
    assert {"auc/female", "val_meta_loss", "nbs_solvable_rate"} <= set(frame.columns)
