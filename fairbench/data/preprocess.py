"""Encode a reference frame as the reference code did, and standardise it.

Reference steps (docs/datasets.md §3):

1. titanic only: drop ``name`` and fill missing values with 0 (so string columns gain a ``0``
   category, e.g. ``cabin_0``);
2. ``pd.get_dummies`` over every non-numeric column (object / string / category). The sensitive
   attribute stays a feature. As in pandas, NaN gets no indicator column (an all-zero row) and
   boolean columns are left as they are (one 0/1 column, not two dummies);
3. columns sorted by name;
4. standardisation with StandardScaler semantics (mean, population std with ddof = 0, and scale 1
   for constant columns), fit on all rows (paper parity) or on training rows only.

Encoded columns are ``float64`` (numeric) or ``uint8`` (indicators and booleans).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from fairbench.data.errors import FRAME_MISMATCH, FrameError
from fairbench.data.frames import ReferenceFrame
from fairbench.data.registry import DatasetSpec, get_dataset, get_setting

ScalerFit = Literal["all", "train"]
SCALER_FITS: tuple[str, ...] = ("all", "train")


@dataclass(frozen=True)
class EncodedTable:
    """The encoded, column-sorted, *unscaled* features of a setting, with labels and groups."""

    setting: str
    features: pd.DataFrame
    y: np.ndarray
    group: np.ndarray
    group_names: list[str]

    @property
    def feature_names(self) -> list[str]:
        return [str(c) for c in self.features.columns]

    @property
    def n_groups(self) -> int:
        return len(self.group_names)

    @property
    def cell(self) -> np.ndarray:
        return self.group * 2 + self.y

    @cached_property
    def matrix(self) -> np.ndarray:
        """The features as a read-only ``float64`` array."""
        out = self.features.to_numpy(dtype=np.float64)
        out.flags.writeable = False
        return out


def reference_steps(X: pd.DataFrame, dataset: DatasetSpec) -> pd.DataFrame:
    """Dataset-specific steps before encoding (titanic: drop ``name``, fill missing with 0)."""
    X = X.drop(columns=list(dataset.drop_before_encoding))
    if dataset.fillna_before_encoding is not None:
        text = [c for c in X.columns if _is_text(X[c])]
        X = X.astype({c: object for c in text}).fillna(dataset.fillna_before_encoding)
    return X


def encode(X: pd.DataFrame) -> pd.DataFrame:
    """``get_dummies`` over the non-numeric columns, columns sorted by name, numeric dtypes."""
    text = [c for c in X.columns if _is_text(X[c])]
    plain = X.astype({c: object for c in text}) if text else X
    encoded = pd.get_dummies(plain, columns=text, prefix_sep="_", dtype=np.uint8)
    names = [str(c) for c in encoded.columns]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise FrameError(FRAME_MISMATCH.format(dataset="?", detail=f"duplicate encoded columns {dup[:5]}"))
    encoded.columns = names
    encoded = encoded[sorted(names)].copy()
    for name, dtype in encoded.dtypes.items():  # only touch the few columns that change dtype
        target = np.uint8 if (ptypes.is_bool_dtype(dtype) or dtype == np.uint8) else np.float64
        if dtype != target:
            encoded[name] = encoded[name].astype(target)
    return encoded


def encode_frame(setting: str, frame: ReferenceFrame) -> EncodedTable:
    """Apply the reference steps and the encoding to the frame of ``setting``; checks the width."""
    spec = get_setting(setting)
    dataset = get_dataset(spec.dataset)
    features = encode(reference_steps(frame.X, dataset))
    if spec.n_features is not None and features.shape[1] != spec.n_features:
        detail = f"{features.shape[1]} encoded columns, expected {spec.n_features}"
        raise FrameError(FRAME_MISMATCH.format(dataset=dataset.name, detail=detail))
    return EncodedTable(
        setting=setting, features=features, y=frame.y, group=frame.group, group_names=list(frame.group_names)
    )


@dataclass(frozen=True)
class Scaler:
    """Per-column mean and scale; ``transform`` is ``(X - mean) / scale``."""

    mean: np.ndarray
    scale: np.ndarray

    def transform(self, X: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        return ((X - self.mean) / self.scale).astype(dtype, copy=False)


def fit_scaler(X: np.ndarray, rows: np.ndarray | None = None) -> Scaler:
    """StandardScaler semantics on ``X[rows]`` (all rows if ``None``): ddof 0; constant columns get scale 1."""
    fit = np.asarray(X if rows is None else X[np.unique(rows)], dtype=np.float64)
    if fit.shape[0] == 0:
        raise ValueError("cannot fit a scaler on zero rows")
    mean = fit.mean(axis=0)
    scale = fit.std(axis=0, ddof=0)
    constant = (fit.max(axis=0) == fit.min(axis=0)) | (scale == 0)
    scale = np.where(constant, 1.0, scale)
    return Scaler(mean=mean, scale=scale)


def _is_text(column: pd.Series) -> bool:
    """Whether ``get_dummies`` encodes the column (not numeric, not boolean)."""
    return not (ptypes.is_numeric_dtype(column) or ptypes.is_bool_dtype(column))
