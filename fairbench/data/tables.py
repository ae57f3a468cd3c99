"""Read a declared dataset's raw table (CSV, Parquet, ARFF, XLS, XLSX) into ``(X, y)``.

The common recipe of the paper's readers (:mod:`fairbench.data.readers`) applies: column names
lower-cased, rows in file order (index 0..n-1), nominal values stay strings, missing values are
NaN, and ``y`` is 1 for the favourable label values, else 0 (``int64``). Then the spec's
``drop`` columns are removed and its ``categorical`` columns (numeric codes) become strings, so
that the encoder one-hot encodes them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairbench.data.errors import SPEC_INVALID, SpecError

#: Format names and the ``source.read`` options each one accepts.
READ_OPTIONS: dict[str, frozenset[str]] = {
    "csv": frozenset({"sep", "header", "columns", "na_values", "encoding", "skiprows"}),
    "parquet": frozenset(),
    "arff": frozenset(),
    "xls": frozenset({"sheet", "header_row", "columns", "na_values"}),
    "xlsx": frozenset({"sheet", "header_row", "columns", "na_values"}),
}
FORMAT_OF_EXTENSION = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".data": "csv", ".parquet": "parquet",
                       ".pq": "parquet", ".arff": "arff", ".xls": "xls", ".xlsx": "xlsx"}


@dataclass(frozen=True)
class TableRecipe:
    """How a declared dataset becomes ``(X, y)``; ``origin`` (the spec file) names errors."""

    dataset: str
    origin: str
    format: str
    read: tuple[tuple[str, Any], ...]
    label: str
    favourable: tuple[Any, ...]
    drop: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()

    def __call__(self, paths: Mapping[str, Path]) -> tuple[pd.DataFrame, np.ndarray]:
        return read_declared(self, paths)


def read_table(path: str | Path, fmt: str, options: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The raw table at ``path`` in format ``fmt`` with the ``source.read`` options, columns lower-cased."""
    opts = dict(options or {})
    if fmt == "csv":
        header = opts.get("header", True)
        frame = pd.read_csv(
            path,
            sep=opts.get("sep", ","),
            header=0 if header else None,
            names=opts.get("columns"),
            na_values=_list(opts.get("na_values", [])),
            keep_default_na=False,
            skipinitialspace=True,
            encoding=opts.get("encoding", "utf-8"),
            skiprows=opts.get("skiprows", 0),
        )
    elif fmt == "parquet":
        frame = pd.read_parquet(path, engine="pyarrow").reset_index(drop=True)
    elif fmt == "arff":
        frame = _read_arff(Path(path))
    elif fmt in ("xls", "xlsx"):
        with warnings.catch_warnings():  # pandas plans to drop xlrd; it still reads .xls here
            warnings.filterwarnings("ignore", message="The xlrd engine is deprecated")
            frame = _read_excel(path, fmt, opts)
    else:  # the spec parser only lets known formats through
        raise ValueError(f"unknown table format {fmt!r}")
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame


def _read_excel(path: str | Path, fmt: str, opts: Mapping[str, Any]) -> pd.DataFrame:
    """A workbook sheet (``xls`` through xlrd, ``xlsx`` through openpyxl when installed)."""
    return pd.read_excel(
        path,
        sheet_name=opts.get("sheet", 0),
        header=opts.get("header_row", 0) if opts.get("columns") is None else None,
        names=opts.get("columns"),
        na_values=_list(opts.get("na_values", [])),
        engine="xlrd" if fmt == "xls" else None,
    )


def read_declared(recipe: TableRecipe, paths: Mapping[str, Path]) -> tuple[pd.DataFrame, np.ndarray]:
    """``(X, y)`` of a declared dataset from its verified raw file (role ``table``)."""
    frame = read_table(paths["table"], recipe.format, dict(recipe.read))

    def missing(key: str, columns: tuple[str, ...]) -> None:
        absent = [c for c in columns if c not in frame.columns]
        if absent:
            problem = f"column(s) {absent} not in the table; columns: {', '.join(map(str, frame.columns))}"
            raise SpecError(SPEC_INVALID.format(path=recipe.origin, key=key, problem=problem))

    missing("label.column", (recipe.label,))
    missing("drop", recipe.drop)
    missing("categorical", recipe.categorical)
    label = frame.pop(recipe.label)
    if label.isna().any():
        problem = f"column {recipe.label!r} has {int(label.isna().sum())} missing values"
        raise SpecError(SPEC_INVALID.format(path=recipe.origin, key="label.column", problem=problem))
    y = label.isin(list(recipe.favourable)).to_numpy()
    if not y.any():
        found = sorted(map(str, label.unique().tolist()))[:10]
        problem = f"none of {list(recipe.favourable)} occurs in column {recipe.label!r} (values: {found})"
        raise SpecError(SPEC_INVALID.format(path=recipe.origin, key="label.favourable", problem=problem))
    frame = frame.drop(columns=list(recipe.drop))
    for column in recipe.categorical:
        frame[column] = frame[column].map(_code_text).astype(object)
    return frame, y.astype(np.int64)


def _read_arff(path: Path) -> pd.DataFrame:
    """An ARFF file (scipy's reader): nominal values as strings, ``?`` as NaN."""
    from scipy.io import arff

    data, _ = arff.loadarff(str(path))
    frame = pd.DataFrame(data)
    for column in frame.columns:
        if frame[column].dtype == object:
            text = frame[column].map(lambda v: v.decode("utf-8") if isinstance(v, bytes) else v)
            frame[column] = text.where(text != "?", np.nan).astype(object)
    return frame


def _code_text(value: object) -> object:
    """A numeric code as text (``3.0`` -> ``"3"``); NaN stays NaN, text stays text."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]
