"""Prepared artefacts: the encoded, unscaled table of a setting as Parquet plus a JSON manifest.

``<out_dir>/<setting>.parquet`` holds the encoded, name-sorted feature columns followed by
``__label__`` and ``__group__`` (int64). ``<out_dir>/<setting>.json`` records the feature names,
group names, cell layout, row count, the sha256 of every raw input and of the Parquet file, and
``spec_digest``: the sha256 of everything that decides the table (the raw files' pinned hashes,
the reader recipe of a declared spec, the group definition and row filter, the encoding version).
Both are written atomically, the manifest last; :func:`load_prepared` checks them against each
other and against the registry, and refuses a table whose spec or recipe changed since it was written
(the pipeline then prepares it again: the spec file is an input of its prepare rule). A setting with a handler (:mod:`fairbench.data.handlers`: the image
settings) is prepared by its handler.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairbench import __version__
from fairbench.data.acquire import fetch, sha256_bytes, sha256_file
from fairbench.data.errors import PREPARED_MISMATCH, PREPARED_MISSING, PREPARED_STALE, PreparedDataError
from fairbench.data.frames import reference_frame
from fairbench.data.handlers import find_handler
from fairbench.data.preprocess import EncodedTable, encode_frame
from fairbench.data.registry import get_dataset, get_setting
from fairbench.io import write_bytes_atomic, write_json_atomic

DEFAULT_PREPARED_DIR = Path("results/prepared")
LABEL_COLUMN = "__label__"
GROUP_COLUMN = "__group__"
MANIFEST_FORMAT = "fairbench-prepared"
MANIFEST_VERSION = 2
#: Bump when the reading or encoding code changes the table a spec gives: prepared tables are then rebuilt.
ENCODING_VERSION = 1


def cell_names(group_names: list[str]) -> list[str]:
    """``cell_names[group * 2 + y] == f"{group}|y={y}"``."""
    return [f"{g}|y={label}" for g in group_names for label in (0, 1)]


def prepared_paths(out_dir: str | os.PathLike[str], setting: str) -> tuple[Path, Path]:
    """``(parquet, manifest)`` paths of ``setting`` in ``out_dir``."""
    out = Path(out_dir)
    return out / f"{setting}.parquet", out / f"{setting}.json"


def prepare(
    setting: str,
    out_dir: str | os.PathLike[str] = DEFAULT_PREPARED_DIR,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
) -> Path:
    """Fetch, rebuild and encode ``setting``; write its Parquet file and manifest; return the Parquet path."""
    spec = get_setting(setting)
    handler = find_handler(setting)
    if handler is not None:  # an image setting: pixels and labels (fairbench/data/images/table.py)
        return handler.prepare(setting, out_dir, data_dir=data_dir, mirror=mirror)
    paths = fetch(spec.dataset, data_dir=data_dir, mirror=mirror, base_url=base_url)
    table = encode_frame(setting, reference_frame(setting, paths=paths))
    raw = {}
    for inp in get_dataset(spec.dataset).inputs:  # keyed by the registry's name of the file that was used
        digest = sha256_file(paths[inp.role])
        raw[next((f.relpath for f in inp.options if f.sha256 == digest), _raw_key(paths[inp.role]))] = digest
    return write_prepared(table, out_dir, raw_files=raw)


def table_digest(setting: str) -> str:
    """sha256 of the facts that decide the prepared table of ``setting`` (not where files live, nor the
    split recipe or hyper-parameters, which do not change the table)."""
    spec = get_setting(setting)
    dataset = get_dataset(spec.dataset)
    facts = {
        "encoding": ENCODING_VERSION,
        "raw": [[inp.role, [f.sha256 for f in inp.options]] for inp in dataset.inputs],
        "dataset": [dataset.n_rows, dataset.n_columns, list(dataset.drop_before_encoding),
                    dataset.fillna_before_encoding],
        "reader": _plain(dataset.reader) if dataclasses.is_dataclass(dataset.reader) else "built-in",
        "group": _plain(spec.group),
        "row_filter": _plain(spec.row_filter),
        "n_features": spec.n_features,
    }
    text = json.dumps(facts, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _plain(value: Any) -> Any:
    """Dataclasses as dicts (without ``origin``: moving a spec file changes no table), tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "origin"}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def write_prepared(table: EncodedTable, out_dir: str | os.PathLike[str], *, raw_files: dict[str, str]) -> Path:
    """Write ``table`` as ``<setting>.parquet`` and ``<setting>.json`` (atomically, manifest last)."""
    spec = get_setting(table.setting)
    parquet_path, manifest_path = prepared_paths(out_dir, table.setting)
    frame = table.features.copy()
    frame[LABEL_COLUMN] = np.asarray(table.y, dtype=np.int64)
    frame[GROUP_COLUMN] = np.asarray(table.group, dtype=np.int64)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow", index=False)
    data = buffer.getvalue()
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "fairbench_version": __version__,
        "setting": table.setting,
        "dataset": spec.dataset,
        "spec_digest": table_digest(table.setting),
        "scaled": False,
        "n_rows": int(len(frame)),
        "n_features": len(table.feature_names),
        "feature_names": table.feature_names,
        "label_column": LABEL_COLUMN,
        "group_column": GROUP_COLUMN,
        "group_attribute": spec.group.attribute,
        "group_names": list(table.group_names),
        "n_groups": table.n_groups,
        "n_cells": 2 * table.n_groups,
        "cell_index": "group * 2 + label",
        "cell_names": cell_names(list(table.group_names)),
        "raw_files": dict(sorted(raw_files.items())),
        "parquet": {"file": parquet_path.name, "sha256": sha256_bytes(data), "bytes": len(data)},
    }
    write_bytes_atomic(parquet_path, data)
    write_json_atomic(manifest_path, manifest)
    return parquet_path


def load_prepared(out_dir: str | os.PathLike[str], setting: str) -> EncodedTable:
    """Read and validate the prepared table of ``setting`` from ``out_dir``."""
    spec = get_setting(setting)
    parquet_path, manifest_path = prepared_paths(out_dir, setting)
    for path in (manifest_path, parquet_path):
        if not path.is_file():
            raise PreparedDataError(PREPARED_MISSING.format(setting=setting, path=path, out_dir=out_dir))

    def mismatch(detail: str) -> PreparedDataError:
        return PreparedDataError(PREPARED_MISMATCH.format(setting=setting, out_dir=out_dir, detail=detail))

    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise mismatch(f"unreadable manifest: {exc}") from None
    if manifest.get("format") != MANIFEST_FORMAT or manifest.get("version") != MANIFEST_VERSION:
        raise mismatch("unknown manifest format or version")
    if manifest.get("setting") != setting:
        raise mismatch(f"manifest is for {manifest.get('setting')!r}")
    expected = table_digest(setting)
    if manifest.get("spec_digest") != expected:
        raise PreparedDataError(PREPARED_STALE.format(setting=setting, out_dir=out_dir, expected=expected[:12],
                                                      found=str(manifest.get("spec_digest"))[:12]))
    actual = sha256_file(parquet_path)
    if actual != manifest.get("parquet", {}).get("sha256"):
        raise mismatch(f"parquet sha256 {actual} differs from the manifest")
    frame = pd.read_parquet(parquet_path, engine="pyarrow")
    names = list(manifest["feature_names"])
    if list(frame.columns) != [*names, LABEL_COLUMN, GROUP_COLUMN]:
        raise mismatch("parquet columns differ from the manifest")
    if len(frame) != manifest.get("n_rows"):
        raise mismatch(f"{len(frame)} rows, manifest says {manifest.get('n_rows')}")
    width_differs = spec.n_features is not None and len(names) != spec.n_features
    if width_differs or manifest.get("group_names") != spec.group_names:
        raise mismatch("feature width or group names differ from the registry")
    return EncodedTable(
        setting=setting,
        features=frame[names],
        y=frame[LABEL_COLUMN].to_numpy(dtype=np.int64),
        group=frame[GROUP_COLUMN].to_numpy(dtype=np.int64),
        group_names=list(manifest["group_names"]),
    )


def _raw_key(path: Path) -> str:
    """``<dataset folder>/<file name>``, the registry's relative path of a cached raw file."""
    return f"{path.parent.name}/{path.name}"
