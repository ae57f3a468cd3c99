"""Read a declared dataset's raw table (CSV, Parquet, ARFF, XLS, XLSX) into ``(X, y)``.

The common recipe of the paper's readers (:mod:`fairbench.data.readers`) applies: column names
lower-cased, rows in file order (index 0..n-1), nominal values stay strings, missing values are
NaN (in a CSV, a blank cell too), and ``y`` is 1 for the favourable label values, else 0 (``int64``).

Steps, in order: the spec's ``filter`` keeps the rows that meet every condition; a missing label
is refused (a blank label cell is missing, never the unfavourable class); the ``keep`` columns (or
all but ``drop``) stay; ``categorical`` columns (numeric codes) become strings, so that the encoder
one-hot encodes them; a text column with more distinct values than ``max_categories`` (default
:func:`category_limit`) is refused, naming it: an identifier or free text would one-hot encode into
a feature per row.

Every problem names the spec file and its key, and a value whose YAML type differs from the
column's (``favourable: ['1']`` against integer labels) says which type was read and how to write it.
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
    keep: tuple[str, ...] = ()
    filters: tuple[Any, ...] = ()  # fairbench.data.registry.RowFilter (anything with column, mask, describe)
    max_categories: int | None = None

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
            na_values=["", *_list(opts.get("na_values", []))],  # a blank cell is missing
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


#: Distinct values a text column may have, whatever the table's size, unless the spec sets ``max_categories``.
MAX_CATEGORIES = 1000


def category_limit(n_rows: int) -> int:
    """Most distinct values of a text column: half the rows (at least 50), at most :data:`MAX_CATEGORIES`."""
    return min(MAX_CATEGORIES, max(50, n_rows // 2))


def yaml_type_hint(values: Any, column: pd.Series) -> str:
    """Why spec values may match nothing in ``column``: text written for a numeric column (``'1'``) or
    numbers for a text one (``1``, ``yes`` read as a boolean by older YAML); ``""`` if the types agree."""
    values = list(values)
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    if numeric and values and all(isinstance(v, str) for v in values):
        plain = ", ".join(v for v in values)
        return (f" (the spec gives text {values!r} but the column holds numbers ({column.dtype}); "
                f"write the values without quotes, e.g. [{plain}])")
    if not numeric and values and all(isinstance(v, (bool, int, float)) for v in values):
        quoted = ", ".join(repr(str(v).lower() if isinstance(v, bool) else str(v)) for v in values)
        kinds = sorted({type(v).__name__ for v in values})
        return (f" (the spec gives {'/'.join(kinds)} values {values!r} but the column holds text; "
                f"quote them, e.g. [{quoted}])")
    return ""


def _fail(recipe: TableRecipe, key: str, problem: str) -> SpecError:
    return SpecError(SPEC_INVALID.format(path=recipe.origin, key=key, problem=problem))


def _rows(mask: np.ndarray, limit: int = 5) -> str:
    """The first row numbers (0-based, in file order) where ``mask`` holds."""
    rows = np.flatnonzero(mask)
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return ", ".join(map(str, rows[:limit].tolist())) + more


def read_declared(recipe: TableRecipe, paths: Mapping[str, Path]) -> tuple[pd.DataFrame, np.ndarray]:
    """``(X, y)`` of a declared dataset from its verified raw file (role ``table``)."""
    path = paths["table"]
    try:
        frame = read_table(path, recipe.format, dict(recipe.read))
    except (ValueError, TypeError, LookupError, ImportError, OSError, IndexError) as exc:
        key = "source.read.encoding" if isinstance(exc, (UnicodeError, LookupError)) else "source.format"
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise _fail(recipe, key, f"{path} cannot be read as {recipe.format} ({reason}); check the file's "
                                 "format, encoding and the 'source.read' options") from None

    def missing(key: str, columns: tuple[str, ...]) -> None:
        absent = [c for c in columns if c not in frame.columns]
        if absent:
            problem = f"column(s) {absent} not in the table; columns: {', '.join(map(str, frame.columns))}"
            raise _fail(recipe, key, problem)

    missing("label.column", (recipe.label,))
    missing("drop", recipe.drop)
    missing("keep", recipe.keep)
    missing("categorical", recipe.categorical)
    missing("filter", tuple(f.column for f in recipe.filters))
    for i, condition in enumerate(recipe.filters):
        values = [*condition.among, *condition.excluded]
        hint = yaml_type_hint(values, frame[condition.column])
        if hint:
            raise _fail(recipe, f"filter[{i}]", f"{condition.describe()} can match nothing{hint}")
        try:
            kept = condition.mask(frame)
        except (ValueError, TypeError):
            raise _fail(recipe, f"filter[{i}]", f"column {condition.column!r} is not numeric "
                                                f"({frame[condition.column].dtype}): min/max need numbers") from None
        frame = frame.loc[kept].reset_index(drop=True)
    if recipe.filters and frame.empty:
        raise _fail(recipe, "filter", "no row meets every condition")
    label = frame.pop(recipe.label)
    if label.isna().any():
        blank = label.isna().to_numpy()
        problem = (f"column {recipe.label!r} has {int(blank.sum())} missing (blank) value(s), at row(s) "
                   f"{_rows(blank)} after the filters: a row without a label is neither class. Fill them in, "
                   f"or remove those rows with filter: [{{column: {recipe.label}}}]")
        raise _fail(recipe, "label.column", problem)
    y = label.isin(list(recipe.favourable)).to_numpy()
    if not y.any():
        found = sorted(map(str, label.unique().tolist()))[:10]
        hint = yaml_type_hint(recipe.favourable, label)
        problem = f"none of {list(recipe.favourable)} occurs in column {recipe.label!r} (values: {found}){hint}"
        raise _fail(recipe, "label.favourable", problem)
    if recipe.keep:
        frame = frame[[c for c in frame.columns if c in recipe.keep]]
    frame = frame.drop(columns=[c for c in recipe.drop if c in frame.columns])
    for column in recipe.categorical:
        if column in frame.columns:
            frame[column] = frame[column].map(_code_text).astype(object)
    _check_cardinality(recipe, frame)
    return frame.reset_index(drop=True), y.astype(np.int64)


def _check_cardinality(recipe: TableRecipe, frame: pd.DataFrame) -> None:
    """Refuse a text column with too many distinct values (an identifier, a name, free text)."""
    limit = recipe.max_categories if recipe.max_categories is not None else category_limit(len(frame))
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        distinct = int(series.nunique(dropna=True))
        if distinct > limit:
            problem = (f"column {column!r} is text with {distinct} distinct values in {len(frame)} rows (more than "
                       f"{limit}): one-hot encoding would add {distinct} features. If it is an identifier, a "
                       f"name or free text, add it to 'drop'; if it is a real category, set max_categories: {distinct}")
            raise _fail(recipe, "drop", problem)


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
