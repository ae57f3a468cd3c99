"""Image tables: uint8 pixels with labels and groups, their prepared Parquet file, and their splits.

An image setting keeps the data layer's convention (a 2D float feature matrix ``X`` of shape
``(n, C*H*W)``, binary labels, group indices, cells ``group * 2 + y``) and stores its pixels
compactly: ``uint8`` values ``0..max_value`` in channel-major order, one row per image, so that the
model can reshape a row to ``input_shape = (C, H, W)``. Features are the pixels scaled to ``[0, 1]``
(``pixels / max_value``); nothing is fit on the data, so the protocols' ``scaler_fit`` switch has no
effect on image settings.

Prepared form (the same two file names as a tabular setting): ``<setting>.parquet`` with the
columns ``__pixels__`` (fixed-size binary, ``C*H*W`` bytes per row), ``__label__``, ``__group__``,
``__image__`` (the source image of the row) and ``__partition__`` (the source's own train / val /
test partition, ``-1`` where it has none), and ``<setting>.json``, the manifest (format
``fairbench-prepared-images``) with ``input_shape``, ``max_value``, group and cell names, the
sha256 of the source files and of the Parquet file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fairbench import __version__
from fairbench.data.acquire import sha256_file
from fairbench.data.errors import PREPARED_MISMATCH, PREPARED_MISSING, PreparedDataError
from fairbench.data.indices import SplitIndices, check_indices
from fairbench.data.prepared import GROUP_COLUMN, LABEL_COLUMN, cell_names, prepared_paths
from fairbench.data.splits import (BAD_SPLIT, FIXED, FIXED_SEED, PAPER, PAPER_OPTIONS_FIXED, Part, SplitData,
                                   split_name)
from fairbench.io import write_json_atomic, write_with_atomic

PIXELS_COLUMN = "__pixels__"
IMAGE_COLUMN = "__image__"
PARTITION_COLUMN = "__partition__"
MANIFEST_FORMAT = "fairbench-prepared-images"
MANIFEST_VERSION = 1
NO_PARTITION = -1


@dataclass(frozen=True)
class ImageTable:
    """Pixels (``uint8``, shape ``(n, C, H, W)``, values ``0..max_value``), labels, groups of one setting.

    ``image`` identifies the source image of each row (a row of the coloured digits is one digit
    image in one colour); ``partition`` is the source's own split (CelebA: 0 train, 1 validation,
    2 test) or ``-1`` everywhere.
    """

    setting: str
    pixels: np.ndarray
    max_value: int
    y: np.ndarray
    group: np.ndarray
    group_names: list[str]
    image: np.ndarray
    partition: np.ndarray

    def __post_init__(self) -> None:
        n = self.pixels.shape[0]
        if self.pixels.dtype != np.uint8 or self.pixels.ndim != 4:
            raise ValueError(f"{self.setting}: pixels must be uint8 of shape (n, C, H, W), got "
                             f"{self.pixels.dtype} {self.pixels.shape}")
        for name in ("y", "group", "image", "partition"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{self.setting}: {name} must have shape ({n},), got {getattr(self, name).shape}")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        c, h, w = self.pixels.shape[1:]
        return int(c), int(h), int(w)

    @property
    def n_features(self) -> int:
        c, h, w = self.input_shape
        return c * h * w

    @property
    def n_groups(self) -> int:
        return len(self.group_names)

    @property
    def cell(self) -> np.ndarray:
        return self.group * 2 + self.y

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def features(self, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` as ``float32`` features in ``[0, 1]``, shape ``(len(rows), C*H*W)``."""
        flat = self.pixels.reshape(len(self), -1)
        out = np.empty((len(rows), flat.shape[1]), dtype=np.float32)
        step = 4096  # bounded temporaries for large tables
        for start in range(0, len(rows), step):
            np.multiply(flat[rows[start:start + step]], np.float32(1.0 / self.max_value),
                        out=out[start:start + step], dtype=np.float32)
        return out


def pixel_names(input_shape: tuple[int, int, int]) -> list[str]:
    """Feature names ``c{c}h{h}w{w}`` in the channel-major order of a flattened image."""
    c, h, w = input_shape
    return [f"c{i}h{j}w{k}" for i in range(c) for j in range(h) for k in range(w)]


def write_image_table(table: ImageTable, out_dir: str | os.PathLike[str], *, dataset: str,
                      raw_files: dict[str, str], recipe: dict[str, Any]) -> Path:
    """Write ``<setting>.parquet`` and ``<setting>.json`` (atomically, manifest last); return the Parquet path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet_path, manifest_path = prepared_paths(out_dir, table.setting)
    n, width = len(table), table.n_features
    flat = np.ascontiguousarray(table.pixels.reshape(n, width))
    pixels = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(flat)])
    arrow = pa.table({
        PIXELS_COLUMN: pixels,
        LABEL_COLUMN: pa.array(table.y.astype(np.int64)),
        GROUP_COLUMN: pa.array(table.group.astype(np.int64)),
        IMAGE_COLUMN: pa.array(table.image.astype(np.int64)),
        PARTITION_COLUMN: pa.array(table.partition.astype(np.int64)),
    })
    write_with_atomic(parquet_path, lambda tmp: pq.write_table(arrow, tmp, compression="zstd"))
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "fairbench_version": __version__,
        "setting": table.setting,
        "dataset": dataset,
        "scaled": False,
        "n_rows": n,
        "n_features": width,
        "input_shape": list(table.input_shape),
        "max_value": int(table.max_value),
        "feature_scaling": "pixels / max_value, in [0, 1]",
        "label_column": LABEL_COLUMN,
        "group_column": GROUP_COLUMN,
        "group_names": list(table.group_names),
        "n_groups": table.n_groups,
        "n_cells": 2 * table.n_groups,
        "cell_index": "group * 2 + label",
        "cell_names": cell_names(list(table.group_names)),
        "recipe": recipe,
        "raw_files": dict(sorted(raw_files.items())),
        "parquet": {"file": parquet_path.name, "sha256": sha256_file(parquet_path),
                    "bytes": parquet_path.stat().st_size},
    }
    write_json_atomic(manifest_path, manifest)
    return parquet_path


def read_manifest(out_dir: str | os.PathLike[str], setting: str) -> dict[str, Any]:
    """The manifest of a prepared image setting (one-line errors naming the fix otherwise)."""
    _, manifest_path = prepared_paths(out_dir, setting)
    if not manifest_path.is_file():
        raise PreparedDataError(PREPARED_MISSING.format(setting=setting, path=manifest_path, out_dir=out_dir))
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _mismatch(setting, out_dir, f"unreadable manifest: {exc}") from None
    if manifest.get("format") != MANIFEST_FORMAT or manifest.get("version") != MANIFEST_VERSION:
        raise _mismatch(setting, out_dir, "not an image manifest of a known version")
    if manifest.get("setting") != setting:
        raise _mismatch(setting, out_dir, f"manifest is for {manifest.get('setting')!r}")
    return manifest


def read_image_table(out_dir: str | os.PathLike[str], setting: str, *,
                     group_names: list[str] | None = None,
                     input_shape: tuple[int, int, int] | None = None) -> ImageTable:
    """Read and validate a prepared image table (sha256 of the Parquet file, shape, groups)."""
    import pyarrow.parquet as pq

    manifest = read_manifest(out_dir, setting)
    parquet_path, _ = prepared_paths(out_dir, setting)
    if not parquet_path.is_file():
        raise PreparedDataError(PREPARED_MISSING.format(setting=setting, path=parquet_path, out_dir=out_dir))
    if sha256_file(parquet_path) != manifest.get("parquet", {}).get("sha256"):
        raise _mismatch(setting, out_dir, "parquet sha256 differs from the manifest")
    shape = tuple(int(v) for v in manifest["input_shape"])
    if input_shape is not None and shape != tuple(input_shape):
        raise _mismatch(setting, out_dir, f"input shape {shape}, the setting declares {tuple(input_shape)}")
    if group_names is not None and manifest["group_names"] != list(group_names):
        raise _mismatch(setting, out_dir, "group names differ from the setting")
    arrow = pq.read_table(parquet_path)
    n = arrow.num_rows
    if n != manifest["n_rows"]:
        raise _mismatch(setting, out_dir, f"{n} rows, manifest says {manifest['n_rows']}")
    column = arrow.column(PIXELS_COLUMN).combine_chunks()
    flat = np.frombuffer(column.buffers()[1], dtype=np.uint8, count=n * int(np.prod(shape)))
    return ImageTable(
        setting=setting,
        pixels=flat.reshape(n, *shape),
        max_value=int(manifest["max_value"]),
        y=arrow.column(LABEL_COLUMN).to_numpy(),
        group=arrow.column(GROUP_COLUMN).to_numpy(),
        group_names=list(manifest["group_names"]),
        image=arrow.column(IMAGE_COLUMN).to_numpy(),
        partition=arrow.column(PARTITION_COLUMN).to_numpy(),
    )


def _mismatch(setting: str, out_dir: str | os.PathLike[str], detail: str) -> PreparedDataError:
    return PreparedDataError(PREPARED_MISMATCH.format(setting=setting, out_dir=out_dir, detail=detail))


#: Test rows of an image setting's paper split are drawn with replacement, as in the paper's split files.
PAPER_TEST_REPLACEMENT = True


@dataclass(frozen=True)
class SplitRequest:
    """A resolved split request: the seed to draw from, test replacement, validation rows per cell, name."""

    seed: int
    test_with_replacement: bool
    val_per_cell: int
    name: str


def resolve_split(split: str | int, test_with_replacement: bool | None, val_per_cell: int | None,
                  default_val_per_cell: int) -> SplitRequest:
    """What to draw for ``split``: ``"paper"`` is the fixed split of seed ``FIXED_SEED`` (test rows with
    replacement, ``default_val_per_cell``; other options are refused), an integer the split of that seed
    (``test_with_replacement=None`` means with replacement, the data layer's default)."""
    if split == PAPER:
        if val_per_cell not in (None, default_val_per_cell) or test_with_replacement not in (
                None, PAPER_TEST_REPLACEMENT):
            raise ValueError(PAPER_OPTIONS_FIXED.format(replacement="with", k=default_val_per_cell))
        return SplitRequest(FIXED_SEED, PAPER_TEST_REPLACEMENT, default_val_per_cell, FIXED)
    if isinstance(split, bool) or not isinstance(split, (int, np.integer)) or split < 0:
        raise ValueError(BAD_SPLIT.format(split=split))
    replacement = True if test_with_replacement is None else bool(test_with_replacement)
    k = default_val_per_cell if val_per_cell is None else int(val_per_cell)
    return SplitRequest(int(split), replacement, k, split_name(int(split), replacement))


def split_data(table: ImageTable, indices: SplitIndices, split: str) -> SplitData:
    """The train / val / test parts of ``table`` for ``indices`` (checked as for a tabular setting)."""
    check_indices(indices, table.group, table.y, table.n_groups, setting=table.setting, split=split)

    def part(rows: np.ndarray) -> Part:
        rows = np.asarray(rows, dtype=np.int64)
        return Part(X=table.features(rows), y=table.y[rows].astype(np.int64),
                    group=table.group[rows].astype(np.int64), cell=table.cell[rows].astype(np.int64), index=rows)

    return SplitData(
        setting=table.setting,
        split=split,
        feature_names=pixel_names(table.input_shape),
        group_names=list(table.group_names),
        cell_names=cell_names(list(table.group_names)),
        train=part(indices.train),
        val=part(indices.val),
        test=part(indices.test),
        input_shape=table.input_shape,
    )
