"""Settings that the tabular pipeline does not build itself (the image settings): who prepares them and
loads their splits.

:func:`fairbench.data.prepared.prepare` and :func:`fairbench.data.splits.load_split` ask
:func:`find_handler` before building a setting from its raw files. The package that implements such
settings (:mod:`fairbench.data.images`) sits above the pipeline and is never imported by it: its
finder is handed to :func:`add_finder` by :mod:`fairbench.data.catalogue`, which the package
``fairbench.data`` imports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fairbench.data.splits import SplitData


@dataclass(frozen=True)
class SettingHandler:
    """How a setting is prepared and split, in place of the tabular pipeline.

    ``prepare(setting, out_dir, *, data_dir=, mirror=) -> Path`` writes the prepared table and returns
    its Parquet path; ``load_split(setting, *, split=, test_with_replacement=, val_per_cell=,
    prepared_dir=, data_dir=, mirror=) -> SplitData`` is :func:`fairbench.data.load_split` for it.
    """

    prepare: Callable[..., Path]
    load_split: Callable[..., SplitData]


#: ``setting name -> SettingHandler | None``: ``None`` when the finder does not implement that setting.
Finder = Callable[[str], "SettingHandler | None"]

_finders: list[Finder] = []


def add_finder(finder: Finder) -> None:
    """Ask ``finder`` in :func:`find_handler` from now on (after the finders added before it; once per function)."""
    if finder not in _finders:
        _finders.append(finder)


def find_handler(setting: str) -> SettingHandler | None:
    """The handler of ``setting`` from the first finder that knows it; ``None``: a tabular setting."""
    for finder in _finders:
        handler = finder(setting)
        if handler is not None:
            return handler
    return None
