"""Per-epoch test-set hard predictions of one run (``predictions.npz`` beside ``metrics.csv``).

The run's test rows are stored once (label ``y`` as int8, group index as int16) with the argmax
label of every epoch, bit-packed row by row (``np.packbits`` of an (epochs, n_test) bool array) and
deflate-compressed. That is what a bootstrap over test rows within (group, label) cells needs to
recompute any hard-label metric at any epoch (docs/protocols.md §5): the hard-label
ROC-AUC of epoch e equals the balanced accuracy of ``labels[e - 1]`` against ``y``.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fairbench.io import write_with_atomic

#: Bumped when the stored layout changes; the loader refuses other versions.
FORMAT_VERSION = 1
_KEYS = {"format_version", "n_test", "epochs", "y", "group", "labels_packed"}


@dataclass(frozen=True)
class Predictions:
    """Test-set labels, groups and per-epoch hard predictions of one run."""

    y: np.ndarray  # (n_test,) int labels 0/1
    group: np.ndarray  # (n_test,) int group index
    labels: np.ndarray  # (epochs, n_test) uint8 hard predictions 0/1, epoch e at row e-1

    @property
    def n_test(self) -> int:
        return int(self.y.shape[0])

    @property
    def epochs(self) -> int:
        return int(self.labels.shape[0])


def _as_binary(name: str, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.size and not np.isin(values, (0, 1)).all():
        raise ValueError(f"predictions: {name} must hold only 0 and 1")
    return values.astype(np.uint8)


def save_predictions(path: str | Path, y: np.ndarray, group: np.ndarray, labels: np.ndarray) -> None:
    """Write ``path`` atomically: ``y`` (n_test,) 0/1, ``group`` (n_test,) >= 0, ``labels`` (epochs, n_test) 0/1."""
    y8 = _as_binary("y", y).reshape(-1)
    group = np.asarray(group)
    labels = _as_binary("labels", labels)
    n_test = y8.shape[0]
    if group.shape != (n_test,):
        raise ValueError(f"predictions: group has shape {group.shape}, expected ({n_test},) like y")
    if labels.ndim != 2 or labels.shape[1] != n_test:
        raise ValueError(f"predictions: labels have shape {labels.shape}, expected (epochs, {n_test})")
    if group.size and (group.min() < 0 or group.max() > np.iinfo(np.int16).max):
        raise ValueError("predictions: group indices must lie in [0, 32767]")
    arrays = {
        "format_version": np.int64(FORMAT_VERSION),
        "n_test": np.int64(n_test),
        "epochs": np.int64(labels.shape[0]),
        "y": y8.astype(np.int8),
        "group": group.astype(np.int16),
        "labels_packed": np.packbits(labels.astype(bool), axis=1),
    }

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a file object: np.savez would append ".npz" to a path
            np.savez_compressed(handle, **arrays)

    write_with_atomic(path, write)


def load_predictions(path: str | Path) -> Predictions:
    """Read a file written by :func:`save_predictions`; a malformed file is a one-line ValueError naming it."""
    path = Path(path)

    def bad(problem: str) -> ValueError:
        return ValueError(f"{path}: {problem}; not a valid predictions file, retrain the run to rewrite it")

    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ValueError(f"{path}: cannot read predictions ({error.strerror or error})") from None
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise bad(f"unreadable ({type(error).__name__})") from None
    missing = _KEYS - set(arrays)
    if missing:
        raise bad(f"missing {', '.join(sorted(missing))}")
    try:
        version, n_test, epochs = (int(arrays[k]) for k in ("format_version", "n_test", "epochs"))
    except (TypeError, ValueError):
        raise bad("format_version, n_test and epochs must be integers") from None
    if version != FORMAT_VERSION:
        raise bad(f"format version {version}, this fairbench reads {FORMAT_VERSION}")
    y, group, packed = arrays["y"], arrays["group"], arrays["labels_packed"]
    if n_test < 0 or epochs < 0 or y.shape != (n_test,) or group.shape != (n_test,):
        raise bad(f"y {y.shape} and group {group.shape} do not match n_test = {n_test}")
    if packed.dtype != np.uint8 or packed.shape != (epochs, (n_test + 7) // 8):
        raise bad(f"labels_packed {packed.shape} does not match {epochs} epochs x {n_test} rows")
    if not np.isin(y, (0, 1)).all() or (group.size and group.min() < 0):
        raise bad("y must be 0/1 and group indices non-negative")
    labels = np.unpackbits(packed, axis=1, count=n_test).astype(np.uint8)
    return Predictions(y=y.astype(np.int64), group=group.astype(np.int64), labels=labels)
