"""Parse each dataset's raw files into ``(X, y)``: lale's ``fetch_*_df(preprocess=False)`` frames.

The common recipe of docs/datasets.md §3: column names lower-cased, label split off, rows in the
original file order (index 0..n-1), nominal values stay strings, missing values are NaN, and
``y`` is the reference's favourable outcome as 0/1 ``int64``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from fairbench.data.errors import DataWarning
from fairbench.data.registry import get_dataset

TITANIC_CSV_ROUNDED = (
    "titanic: using titanic3.csv, which rounds 9 infant ages to 2 decimals (e.g. 0.92 instead of "
    "0.9167); the reference frame used titanic3.xls. Put titanic3.xls in the mirror or cache for exact ages."
)

ADULT_COLUMNS = (
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
)  # fmt: skip
TITANIC_STRING_COLUMNS = ("name", "sex", "ticket", "cabin", "embarked", "boat", "home.dest")
TITANIC_INT_COLUMNS = ("pclass", "survived", "sibsp", "parch")
CREDIT_LABEL = "default.payment.next.month"

Reader = Callable[[Mapping[str, Path]], tuple[pd.DataFrame, np.ndarray]]


def _finish(X: pd.DataFrame, y: pd.Series | np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    X = X.reset_index(drop=True)
    X.columns = [str(c).lower() for c in X.columns]
    return X, np.asarray(y, dtype=np.int64)


def read_adult(paths: Mapping[str, Path]) -> tuple[pd.DataFrame, np.ndarray]:
    """``adult.test`` rows first (junk first line, labels ending in ``.``), then ``adult.data``; ``?`` is missing."""
    names = [*ADULT_COLUMNS, "class"]
    kwargs = dict(header=None, names=names, sep=",", skipinitialspace=True, na_values=["?"], keep_default_na=False)
    test = pd.read_csv(paths["test"], skiprows=1, **kwargs)
    data = pd.read_csv(paths["data"], **kwargs)
    frame = pd.concat([test, data], ignore_index=True)
    label = frame.pop("class").astype(str).str.rstrip(".")
    return _finish(frame, label == ">50K")


def read_bank(paths: Mapping[str, Path]) -> tuple[pd.DataFrame, np.ndarray]:
    """``bank-full.csv`` in file order; favourable = the client did **not** subscribe (``y == "no"``)."""
    frame = pd.read_csv(paths["table"], sep=";", keep_default_na=False)
    label = frame.pop("y")
    return _finish(frame, label == "no")


def read_default_credit(paths: Mapping[str, Path]) -> tuple[pd.DataFrame, np.ndarray]:
    """UCI workbook (header on row 2) or its CSV form, ID order; favourable = **no** default next month."""
    path = Path(paths["table"])
    if path.suffix.lower() == ".xls":
        frame = _xls_frame(path, header_row=1).dropna(how="all")
    else:
        frame = pd.read_csv(path)
    frame.columns = [str(c).strip().lower().replace(" ", ".") for c in frame.columns]
    frame = frame.astype(np.int64)
    frame = frame.sort_values("id", kind="stable")
    label = frame.pop(CREDIT_LABEL)
    return _finish(frame, label == 0)


def read_student_por(paths: Mapping[str, Path]) -> tuple[pd.DataFrame, np.ndarray]:
    """``student-por.csv`` in file order (keeps ``g1``, ``g2``); favourable = ``g3 >= 10``."""
    frame = pd.read_csv(paths["table"], sep=";", keep_default_na=False)
    frame.columns = [c.lower() for c in frame.columns]
    label = frame.pop("g3")
    return _finish(frame, label >= 10)


def read_titanic(paths: Mapping[str, Path]) -> tuple[pd.DataFrame, np.ndarray]:
    """``titanic3.xls`` sheet 1 (or the CSV, with a warning), file order; favourable = ``survived == 1``."""
    path = Path(paths["table"])
    if path.suffix.lower() == ".xls":
        frame = _xls_frame(path, header_row=0)
        for col in TITANIC_STRING_COLUMNS:
            frame[col] = frame[col].map(_xls_text).astype(object)
        frame = frame.astype({c: np.int64 for c in TITANIC_INT_COLUMNS})
    else:
        warnings.warn(TITANIC_CSV_ROUNDED, DataWarning, stacklevel=3)
        dtypes = {c: object for c in TITANIC_STRING_COLUMNS}
        frame = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""])
    for col in frame.columns:
        if col not in TITANIC_STRING_COLUMNS and col not in TITANIC_INT_COLUMNS:
            frame[col] = frame[col].astype(np.float64)
    label = frame.pop("survived")
    return _finish(frame, label == 1)


def read_us_crime(paths: Mapping[str, Path]) -> tuple[pd.DataFrame, np.ndarray]:
    """``communities.data`` with the names of the 128 ``@attribute`` lines; favourable = **not** high crime.

    High crime (the unfavourable class) is ``violentcrimesperpop >= 0.7``.
    """
    attributes = _arff_attributes(Path(paths["names"]))
    names = [name for name, _ in attributes]
    strings = {name: object for name, kind in attributes if kind == "string"}
    frame = pd.read_csv(
        paths["data"], header=None, names=names, na_values=["?"], keep_default_na=False, dtype=strings
    )
    label = frame.pop("violentcrimesperpop")
    return _finish(frame, label < 0.7)


READERS: dict[str, Reader] = {
    "adult": read_adult,
    "bank": read_bank,
    "default_credit": read_default_credit,
    "student_por": read_student_por,
    "titanic": read_titanic,
    "us_crime": read_us_crime,
}


def read_dataset(dataset: str, paths: Mapping[str, Path]) -> tuple[pd.DataFrame, np.ndarray]:
    """``(X, y)`` of ``dataset`` from the raw files returned by :func:`fairbench.data.fetch`.

    The paper's datasets use the readers above; a declared or code-registered dataset its own
    ``reader`` (:class:`fairbench.data.tables.TableRecipe` for YAML specs).
    """
    spec = get_dataset(dataset)
    reader = spec.reader if spec.reader is not None else READERS[dataset]
    return reader(paths)


def _arff_attributes(path: Path) -> list[tuple[str, str]]:
    """``(lower-cased name, type)`` of every ``@attribute`` line of a UCI ``.names`` file."""
    out = []
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.lower().startswith("@attribute"):
            _, name, kind = line.split(None, 2)
            out.append((name.lower(), kind.strip().lower()))
    return out


def _xls_frame(path: Path, *, header_row: int) -> pd.DataFrame:
    """The first sheet of an ``.xls`` workbook as raw cells: numbers as floats, empty cells as NaN."""
    import xlrd

    book = xlrd.open_workbook(str(path), on_demand=True)
    try:
        sheet = book.sheet_by_index(0)
        header = [str(v).strip() for v in sheet.row_values(header_row)]
        columns = {}
        for j, name in enumerate(header):
            types = sheet.col_types(j, start_rowx=header_row + 1)
            values = sheet.col_values(j, start_rowx=header_row + 1)
            columns[name] = [
                np.nan if t in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK) else v for t, v in zip(types, values)
            ]
    finally:
        book.release_resources()
    return pd.DataFrame(columns)


def _xls_text(value: object) -> object:
    """A text cell as a string; integral numbers as ``"24160"`` (not ``"24160.0"``); NaN stays NaN."""
    if isinstance(value, float):
        if np.isnan(value):
            return np.nan
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)
