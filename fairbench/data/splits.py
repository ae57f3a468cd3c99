"""Ready-to-train splits: :func:`load_split` returns standardised train / validation / test parts.

Splits are ``"paper"`` (the shipped split files) or an integer seed (a new split drawn with the
paper's recipe, see :mod:`fairbench.data.indices`). The scaler is fit on all rows (paper parity,
``scaler_fit="all"``) or on the training rows only (``scaler_fit="train"``).

The encoded table comes from ``prepared_dir`` (Parquet written by :func:`fairbench.data.prepare`)
when given, else it is rebuilt from the raw cache (and kept in memory for the process). A setting
with a handler (:mod:`fairbench.data.handlers`: the image settings) is split by its handler.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fairbench.data.acquire import resolve_data_dir, resolve_mirror
from fairbench.data.frames import reference_frame
from fairbench.data.handlers import find_handler
from fairbench.data.indices import SplitIndices, check_indices, draw_indices, load_paper_indices
from fairbench.data.prepared import cell_names, load_prepared
from fairbench.data.preprocess import SCALER_FITS, EncodedTable, ScalerFit, encode_frame, fit_scaler
from fairbench.data.registry import get_setting

if TYPE_CHECKING:
    import torch

PAPER = "paper"
#: The split a declared setting uses where the paper split is asked for: drawn once, from seed 0.
FIXED_SEED = 0
FIXED = f"fixed-seed{FIXED_SEED}"
PAPER_OPTIONS_FIXED = (
    "the paper split is fixed (test drawn with replacement, val_per_cell={k}); "
    "other values of val_per_cell or test_with_replacement need a seeded split"
)
BAD_SPLIT = "split must be 'paper' or an integer seed >= 0, got {split!r}"
BAD_SCALER_FIT = "scaler_fit must be one of {valid}, got {value!r}"

_TABLES: dict[tuple[str, str, str], EncodedTable] = {}


@dataclass(frozen=True)
class TorchPart:
    """:class:`Part` as torch tensors (``X`` float32, the rest int64)."""

    X: "torch.Tensor"
    y: "torch.Tensor"
    group: "torch.Tensor"
    cell: "torch.Tensor"
    index: "torch.Tensor"


@dataclass(frozen=True)
class Part:
    """One of train / val / test. ``index`` holds row positions in the reference frame."""

    X: np.ndarray
    y: np.ndarray
    group: np.ndarray
    cell: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def to_torch(self) -> TorchPart:
        import torch

        return TorchPart(
            X=torch.from_numpy(np.ascontiguousarray(self.X, dtype=np.float32)),
            y=torch.from_numpy(np.ascontiguousarray(self.y, dtype=np.int64)),
            group=torch.from_numpy(np.ascontiguousarray(self.group, dtype=np.int64)),
            cell=torch.from_numpy(np.ascontiguousarray(self.cell, dtype=np.int64)),
            index=torch.from_numpy(np.ascontiguousarray(self.index, dtype=np.int64)),
        )


@dataclass(frozen=True)
class SplitData:
    """A setting's standardised split; ``cell_names[c] == f"{group}|y={label}"`` for ``c = group * 2 + label``.

    ``input_shape`` is ``(C, H, W)`` for an image setting (rows of ``X`` are flattened pixels), else ``None``.
    """

    setting: str
    split: str
    feature_names: list[str]
    group_names: list[str]
    cell_names: list[str]
    train: Part
    val: Part
    test: Part
    input_shape: tuple[int, int, int] | None = None

    @property
    def n_groups(self) -> int:
        return len(self.group_names)

    @property
    def n_cells(self) -> int:
        return len(self.cell_names)

    @property
    def n_features(self) -> int:
        return len(self.feature_names)


def split_name(split: str | int, test_with_replacement: bool = True, setting: str | None = None) -> str:
    """``"paper"`` (``"fixed-seed0"`` for a setting without a paper split file), ``"seed3"`` or ``"seed3-norepl"``."""
    if split == PAPER:
        if setting is None or get_setting(setting).paper_split is not None:
            return PAPER
        return FIXED + ("" if test_with_replacement else "-norepl")
    return f"seed{int(split)}" + ("" if test_with_replacement else "-norepl")


def load_split(
    setting: str,
    *,
    split: str | int = PAPER,
    scaler_fit: ScalerFit = "all",
    test_with_replacement: bool | None = None,
    val_per_cell: int | None = None,
    prepared_dir: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | os.PathLike[str] | None = None,
) -> SplitData:
    """The standardised train / val / test parts of ``setting`` for ``split`` ("paper" or a seed).

    ``test_with_replacement=None``: the paper split's own choice, and with replacement for a seed.
    """
    if scaler_fit not in SCALER_FITS:
        raise ValueError(BAD_SCALER_FIT.format(valid=", ".join(SCALER_FITS), value=scaler_fit))
    handler = find_handler(setting)
    if handler is not None:  # an image setting: pixels in [0, 1], nothing is fit (fairbench/data/images/table.py)
        return handler.load_split(setting, split=split, test_with_replacement=test_with_replacement,
                                  val_per_cell=val_per_cell, prepared_dir=prepared_dir, data_dir=data_dir, mirror=mirror)
    table = encoded_table(setting, prepared_dir=prepared_dir, data_dir=data_dir, mirror=mirror)
    indices = split_indices(
        setting, table, split=split, test_with_replacement=test_with_replacement, val_per_cell=val_per_cell
    )
    replacement = test_with_replacement
    if replacement is None:
        replacement = get_setting(setting).test_replacement if split == PAPER else True
    name = split_name(split, replacement, setting)
    return split_from_indices(table, indices, name, scaler_fit=scaler_fit)


def split_from_indices(table: EncodedTable, indices: SplitIndices, name: str, *,
                       scaler_fit: ScalerFit = "all") -> SplitData:
    """Standardised train / val / test parts of ``table`` at ``indices`` (checked first)."""
    setting = table.setting
    check_indices(indices, table.group, table.y, table.n_groups, setting=setting, split=name)
    X = table.matrix
    scaler = fit_scaler(X, None if scaler_fit == "all" else indices.train)
    cells = table.cell

    def part(rows: np.ndarray) -> Part:
        return Part(
            X=scaler.transform(X[rows]),
            y=table.y[rows].astype(np.int64),
            group=table.group[rows].astype(np.int64),
            cell=cells[rows].astype(np.int64),
            index=rows.astype(np.int64),
        )

    return SplitData(
        setting=setting,
        split=name,
        feature_names=table.feature_names,
        group_names=list(table.group_names),
        cell_names=cell_names(list(table.group_names)),
        train=part(indices.train),
        val=part(indices.val),
        test=part(indices.test),
    )


def split_indices(
    setting: str,
    table: EncodedTable,
    *,
    split: str | int = PAPER,
    test_with_replacement: bool | None = None,
    val_per_cell: int | None = None,
) -> SplitIndices:
    """Row indices of ``split`` for ``setting`` (unchecked; see :func:`check_indices`).

    The paper split of a setting without a split file is its recipe drawn from seed 0 (fixed
    across seeds, like the paper's files), test rows with replacement as asked, else as the
    setting's ``test_replacement`` says.
    """
    spec = get_setting(setting)
    if split == PAPER:
        if spec.paper_split is None:
            if val_per_cell is not None and val_per_cell != spec.val_per_cell:
                raise ValueError(PAPER_OPTIONS_FIXED.format(k=spec.val_per_cell))
            replacement = spec.test_replacement if test_with_replacement is None else test_with_replacement
            split, test_with_replacement = FIXED_SEED, replacement
        else:
            if (val_per_cell is not None and val_per_cell != spec.val_per_cell) or test_with_replacement is False:
                raise ValueError(PAPER_OPTIONS_FIXED.format(k=spec.val_per_cell))
            return load_paper_indices(setting)
    if isinstance(split, bool) or not isinstance(split, (int, np.integer)) or split < 0:
        raise ValueError(BAD_SPLIT.format(split=split))
    return draw_indices(
        table.group,
        table.y,
        spec.n_groups,
        seed=int(split),
        test_fraction=spec.test_fraction,
        val_per_cell=spec.val_per_cell if val_per_cell is None else int(val_per_cell),
        test_with_replacement=True if test_with_replacement is None else test_with_replacement,
        setting=setting,
        test_per_cell=spec.test_per_cell,
        cell_names=cell_names(list(table.group_names)),
    )


def encoded_table(
    setting: str,
    *,
    prepared_dir: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | os.PathLike[str] | None = None,
) -> EncodedTable:
    """The encoded, unscaled table: from ``prepared_dir`` if given, else rebuilt (memoised per process)."""
    if prepared_dir is not None:
        return load_prepared(prepared_dir, setting)
    key = (setting, str(resolve_data_dir(data_dir)), str(resolve_mirror(mirror)))
    if key not in _TABLES:
        _TABLES[key] = encode_frame(setting, reference_frame(setting, data_dir=data_dir, mirror=mirror))
    return _TABLES[key]


def clear_memory_cache() -> None:
    """Forget the tables rebuilt in this process."""
    _TABLES.clear()

