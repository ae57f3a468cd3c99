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
from fairbench.data.errors import FRAME_MISMATCH, SPEC_INVALID, FrameError, SpecError
from fairbench.data.readers import read_dataset
from fairbench.data.registry import GroupSpec, SettingSpec, get_dataset, get_setting
from fairbench.data.tables import yaml_type_hint


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
    """Keep the rows of ``spec``'s ``row_filter``, attach its group to ``(X, y)`` and apply its frame steps (us_crime)."""
    gspec = spec.group
    parts = gspec.parts or (gspec,)
    for column in [f.column for f in spec.row_filter] + [part.attribute for part in parts]:
        if column not in X.columns:
            detail = f"setting {spec.name}: sensitive column {column!r} is not among {', '.join(map(str, X.columns))}"
            raise FrameError(FRAME_MISMATCH.format(dataset=spec.dataset, detail=detail))
    y = np.asarray(y, dtype=np.int64)
    if spec.row_filter:
        keep = np.ones(len(X), dtype=bool)
        for condition in spec.row_filter:
            keep &= condition.mask(X)
        if not keep.any():
            raise _setting_error(spec, "filter", "no row meets every condition")
        X, y = X.loc[keep].reset_index(drop=True), y[keep]
    group = np.zeros(len(X), dtype=np.int64)
    for part in parts:  # mixed radix: the first part varies slowest
        group = group * len(part.names) + group_index(part, X[part.attribute], dataset=spec.dataset, setting=spec)
    X = X.copy()
    if gspec.feature is not None:
        X[gspec.feature] = group.astype(bool)
    dropped = [part.attribute for part in parts if part.drop_attribute]
    if dropped:
        X = X.drop(columns=dropped)
    if gspec.drop_missing_columns:
        X = X.loc[:, ~X.isna().any(axis=0)]
    return ReferenceFrame(X=X, y=y, group=group, group_names=list(gspec.names))


def _setting_error(spec: SettingSpec, key: str, problem: str) -> SpecError:
    """A problem of a declared setting's spec, naming the file and the key (``sensitive.threshold of setting x``)."""
    return SpecError(SPEC_INVALID.format(path=spec.origin, key=f"{key} of setting {spec.name}", problem=problem))


def group_index(gspec: GroupSpec, column: pd.Series, *, dataset: str = "",
                setting: SettingSpec | None = None) -> np.ndarray:
    """Group index (int64) of every row for the attribute ``column`` (``setting`` names spec errors)."""
    if column.isna().any():
        raise FrameError(FRAME_MISMATCH.format(dataset=dataset, detail=f"missing values in {gspec.attribute!r}"))
    if gspec.threshold is not None:
        try:
            values = column.to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            problem = (f"column {gspec.attribute!r} holds text ({column.dtype}, e.g. {column.iloc[0]!r}), so a "
                       "threshold cannot split it; use 'categories' instead")
            if setting is not None and setting.origin != "built-in":
                raise _setting_error(setting, "sensitive.threshold", problem) from None
            raise FrameError(FRAME_MISMATCH.format(dataset=dataset, detail=problem)) from None
        return (values > gspec.threshold).astype(np.int64)
    if gspec.members:
        codes = {value: i for i, values in enumerate(gspec.members) for value in values}
        group = column.map(lambda v: codes.get(v, -1)).to_numpy(dtype=np.int64)
        if (group < 0).any():
            unknown = sorted(map(str, column[group < 0].unique().tolist()))[:10]
            hint = yaml_type_hint([v for m in gspec.members for v in m], column)
            detail = (f"{gspec.attribute!r} has values {unknown} that belong to no group; add them to the groups, "
                      f"or keep only the rows of the groups with a setting 'filter'{hint}")
            raise FrameError(FRAME_MISMATCH.format(dataset=dataset, detail=detail))
        return group
    found = set(column.unique().tolist())
    if found != set(gspec.values):
        detail = f"{gspec.attribute!r} has values {sorted(map(str, found))}, expected {list(map(str, gspec.values))}"
        raise FrameError(FRAME_MISMATCH.format(dataset=dataset, detail=detail))
    codes = {value: i for i, value in enumerate(gspec.values)}
    return column.map(codes).to_numpy(dtype=np.int64)
