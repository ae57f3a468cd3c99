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
from typing import Any

import numpy as np

from fairbench.io import write_with_atomic

#: Bumped when the stored layout changes; the loader refuses other versions.
FORMAT_VERSION = 1
_KEYS = {"format_version", "n_test", "epochs", "y", "group", "labels_packed"}
#: Bytes an ``.npy`` member may hold besides its data (its header), and the most a file may unpack to
#: when its run record does not say how many test rows and epochs it holds.
NPY_HEADER_BYTES = 1024
MAX_UNPACKED_BYTES = 256 * 2**20


@dataclass(frozen=True)
class ExpectedShape:
    """What a run's ``run.json`` says its predictions hold (None: not recorded); checked before unpacking."""

    n_test: int | None = None
    epochs: int | None = None
    n_groups: int | None = None

    def unpacked_bytes(self) -> int:
        """Most bytes the file may unpack to: y (int8), group (int16), the packed labels and the three
        scalars, each with a header; :data:`MAX_UNPACKED_BYTES` when rows or epochs are not recorded."""
        if self.n_test is None or self.epochs is None:
            return MAX_UNPACKED_BYTES
        return 3 * self.n_test + self.epochs * ((self.n_test + 7) // 8) + 3 * 8 + len(_KEYS) * NPY_HEADER_BYTES


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


def expected_shape(record: dict[str, Any]) -> ExpectedShape:
    """What a parsed ``run.json`` says the run's predictions hold: ``data.n_test``, ``epochs`` (else the
    ``epochs`` hyper-parameter) and the number of ``data.groups``; a field not recorded as such is None."""
    data = record.get("data") if isinstance(record.get("data"), dict) else {}
    hparams = record.get("config", {}).get("hparams", {}) if isinstance(record.get("config"), dict) else {}
    epochs = record.get("epochs", hparams.get("epochs") if isinstance(hparams, dict) else None)

    def count(value: object) -> int | None:
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None

    groups = data.get("groups")
    return ExpectedShape(n_test=count(data.get("n_test")), epochs=count(epochs),
                         n_groups=len(groups) if isinstance(groups, list) and groups else None)


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


def load_predictions(path: str | Path, expected: ExpectedShape | None = None) -> Predictions:
    """Read a file written by :func:`save_predictions`; a malformed file is a one-line ValueError naming it.

    The file is untrusted: the sizes its archive declares are checked against ``expected`` (what the
    run's ``run.json`` says) before anything is unpacked, and its rows, epochs and group indices after.
    """
    path = Path(path)
    expected = expected or ExpectedShape()

    def bad(problem: str) -> ValueError:
        return ValueError(f"{path}: {problem}; not a valid predictions file, retrain the run to rewrite it")

    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ValueError(f"{path}: cannot read predictions ({error.strerror or error})") from None
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise bad(f"unreadable ({type(error).__name__})") from None
    if unpacked > expected.unpacked_bytes():
        room = (f"the {expected.unpacked_bytes()} that the {expected.n_test} test rows and {expected.epochs} epochs "
                "of run.json need" if expected.unpacked_bytes() < MAX_UNPACKED_BYTES
                else f"the {MAX_UNPACKED_BYTES} allowed when run.json does not record its test rows and epochs")
        raise bad(f"unpacks to {unpacked} bytes, more than {room}")
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
    for name, got, want in (("test rows", n_test, expected.n_test), ("epochs", epochs, expected.epochs)):
        if want is not None and got != want:
            raise bad(f"{got} {name}, but run.json records {want}")
    if expected.n_groups is not None and group.size and group.max() >= expected.n_groups:
        raise bad(f"group index {int(group.max())}, but run.json records {expected.n_groups} groups")
    labels = np.unpackbits(packed, axis=1, count=n_test).astype(np.uint8)
    return Predictions(y=y.astype(np.int64), group=group.astype(np.int64), labels=labels)
