"""Fixtures for the uncertainty, degenerate-run and findings tests: run folders whose ``predictions.npz``
and ``metrics.csv`` agree (the hard-label metrics of metrics.csv are computed from the stored
predictions). Every number is generated here; nothing comes from training."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fairbench.evaluation import metrics as M
from fairbench.runs.predictions import load_predictions, save_predictions
from tests.test_reports_fixtures import GROUPS, write_run


def predicted_metrics(y: np.ndarray, group: np.ndarray, labels: np.ndarray) -> dict[str, list[float]]:
    """metrics.csv columns of the hard-label metrics, one value per epoch (row of ``labels``)."""
    out: dict[str, list[float]] = {k: [] for k in ("auc", "worst_group_auc", "group_auc_gap", "tpr_gap", "fpr_gap")}
    for g in GROUPS:
        for prefix in ("auc", "tpr", "fpr"):
            out[f"{prefix}/{g}"] = []
    for pred in labels:
        out["auc"].append(M.hard_label_auc(y, pred))
        out["worst_group_auc"].append(M.worst_group_auc(y, pred, group))
        out["group_auc_gap"].append(M.group_auc_gap(y, pred, group))
        out["tpr_gap"].append(M.tpr_gap(y, pred, group))
        out["fpr_gap"].append(M.fpr_gap(y, pred, group))
        for code, g in enumerate(GROUPS):
            members = group == code
            out[f"auc/{g}"].append(M.hard_label_auc(y[members], pred[members]))
            out[f"tpr/{g}"].append(M.true_positive_rate(y[members], pred[members]))
            out[f"fpr/{g}"].append(M.false_positive_rate(y[members], pred[members]))
    return out


def write_predicted_run(root: Path, *, method: str, seed: int, setting: str = "titanic-sex", protocol: str = "paper",
                        epochs: int = 5, bargain_epochs: int = 3, n_cell: int = 9,
                        accuracy: float | Sequence[float] = 0.8, constant: int | None = None,
                        extra: dict[str, Sequence[float]] | None = None, **kw: object) -> Path:
    """A run whose test predictions are right with probability ``accuracy`` (per epoch, or one value;
    the female cells 0.1 less), or one class everywhere (``constant``); returns its run.json path."""
    rng = np.random.default_rng([seed, zlib.crc32(f"{protocol}/{setting}/{method}".encode())])
    group = np.repeat([0, 0, 1, 1], n_cell)
    y = np.tile(np.repeat([0, 1], n_cell), 2)
    acc = np.broadcast_to(np.asarray(accuracy, dtype=float), (epochs,))
    right = rng.random((epochs, y.size)) < (acc[:, None] - 0.1 * (group == 0)[None, :])
    labels = np.where(right, y, 1 - y) if constant is None else np.full((epochs, y.size), constant)
    columns = predicted_metrics(y, group, labels)
    columns.update(extra or {})
    path = write_run(root, method=method, seed=seed, setting=setting, protocol=protocol, epochs=epochs,
                     bargain_epochs=bargain_epochs, overrides=columns, **kw)
    save_predictions(path.parent / "predictions.npz", y, group, labels)
    return path


def test_predicted_runs_agree_with_their_metrics(tmp_path: Path) -> None:
    path = write_predicted_run(tmp_path, method="ltr", seed=1, epochs=3, accuracy=[0.6, 0.7, 0.9])
    pred = load_predictions(path.parent / "predictions.npz")
    frame = pd.read_csv(path.parent / "metrics.csv")
    assert pred.labels.shape == (3, 36)
    for e in range(3):
        assert frame["auc"][e] == M.hard_label_auc(pred.y, pred.labels[e])
    constant = write_predicted_run(tmp_path, method="erm", seed=1, epochs=2, constant=0)
    frame = pd.read_csv(constant.parent / "metrics.csv")
    assert list(frame["auc"]) == [0.5, 0.5] and list(frame["tpr/male"]) == [0.0, 0.0]
