"""Rebuild the reference frame of a setting: features, favourable label and sensitive group.

Group definitions (docs/datasets.md §1): adult ``race`` (5 raw categories) and ``sex``; bank
``age > 25`` (strict); default_credit ``sex`` (raw 1 = male, 2 = female, kept numeric);
student_por ``sex`` F / M; titanic ``sex`` female / male; us_crime ``racepctblack > 0.06``.

Group order: categorical attributes follow the sorted raw values; thresholds give
``[f"{attr}<={thr}", f"{attr}>{thr}"]`` (index 0 = not exceeding).

us_crime: the group is also added as the boolean feature ``blackgt6pct``; then ``racepctblack``
and every column with a missing value are dropped (the string ``communityname`` stays). The
result is the documented 1,994 x 102 frame and, after encoding, 1,929 columns (100 numeric +
``blackgt6pct``, which ``get_dummies`` leaves as is, + 1,828 community names); without the
group column the frame would be 101 columns wide and the encoding 1,928.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fairbench.data.acquire import fetch
from fairbench.data.errors import FRAME_MISMATCH, FrameError
from fairbench.data.readers import read_dataset
from fairbench.data.registry import GroupSpec, SettingSpec, get_dataset, get_setting


@dataclass(frozen=True)
class ReferenceFrame:
    """Features (raw values, lale column names), 0/1 labels and group indices of one setting."""

    X: pd.DataFrame
    y: np.ndarray
    group: np.ndarray
    group_names: list[str]

    @property
    def cell(self) -> np.ndarray:
        """Cell index ``group * 2 + y`` of every row."""
        return self.group * 2 + self.y


def reference_frame(
    setting: str,
    *,
    paths: Mapping[str, Path] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
) -> ReferenceFrame:
    """The reference frame of ``setting``, from ``paths`` or from :func:`fetch` (cache / mirror / download)."""
    spec = get_setting(setting)
    dataset = get_dataset(spec.dataset)
    if paths is None:
        paths = fetch(dataset.name, data_dir=data_dir, mirror=mirror, base_url=base_url)
    X, y = read_dataset(dataset.name, paths)
    expected = (dataset.n_rows, dataset.n_columns)
    if any(want is not None and got != want for got, want in zip(X.shape, expected)):
        detail = f"shape {X.shape}, expected {tuple('any' if e is None else e for e in expected)}"
        raise FrameError(FRAME_MISMATCH.format(dataset=dataset.name, detail=detail))
    return with_group(spec, X, y)


def with_group(spec: SettingSpec, X: pd.DataFrame, y: np.ndarray) -> ReferenceFrame:
    """Attach the group of ``spec`` to ``(X, y)`` and apply its frame steps (us_crime)."""
    gspec = spec.group
    if gspec.attribute not in X.columns:
        detail = f"setting {spec.name}: sensitive column {gspec.attribute!r} is not among {', '.join(map(str, X.columns))}"
        raise FrameError(FRAME_MISMATCH.format(dataset=spec.dataset, detail=detail))
    group = group_index(gspec, X[gspec.attribute], dataset=spec.dataset)
    X = X.copy()
    if gspec.feature is not None:
        X[gspec.feature] = group.astype(bool)
    if gspec.drop_attribute:
        X = X.drop(columns=[gspec.attribute])
    if gspec.drop_missing_columns:
        X = X.loc[:, ~X.isna().any(axis=0)]
    return ReferenceFrame(X=X, y=np.asarray(y, dtype=np.int64), group=group, group_names=list(gspec.names))


def group_index(gspec: GroupSpec, column: pd.Series, *, dataset: str = "") -> np.ndarray:
    """Group index (int64) of every row for the attribute ``column``."""
    if column.isna().any():
        raise FrameError(FRAME_MISMATCH.format(dataset=dataset, detail=f"missing values in {gspec.attribute!r}"))
    if gspec.threshold is not None:
        return (column.to_numpy(dtype=np.float64) > gspec.threshold).astype(np.int64)
    if gspec.members:
        codes = {value: i for i, values in enumerate(gspec.members) for value in values}
        group = column.map(lambda v: codes.get(v, -1)).to_numpy(dtype=np.int64)
        if (group < 0).any():
            unknown = sorted(map(str, column[group < 0].unique().tolist()))[:10]
            detail = f"{gspec.attribute!r} has values {unknown} that belong to no group; add them to the groups"
            raise FrameError(FRAME_MISMATCH.format(dataset=dataset, detail=detail))
        return group
    found = set(column.unique().tolist())
    if found != set(gspec.values):
        detail = f"{gspec.attribute!r} has values {sorted(map(str, found))}, expected {list(map(str, gspec.values))}"
        raise FrameError(FRAME_MISMATCH.format(dataset=dataset, detail=detail))
    codes = {value: i for i, value in enumerate(gspec.values)}
    return column.map(codes).to_numpy(dtype=np.int64)
