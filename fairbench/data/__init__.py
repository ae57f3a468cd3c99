"""The data layer: registry of settings, verified raw files, reference frames, splits.

Typical use::

    from fairbench.data import load_split
    data = load_split("adult-sex", split="paper")        # or split=0, 1, ... for new splits
    batch = data.train.to_torch()

Modules import only downwards, bottom to top: errors; registry, handlers, tables; acquire, readers,
declare, indices; frames; preprocess; prepared; splits; images (table, digits, celeba, the package);
then :mod:`fairbench.data.catalogue`, which hands the declared specs and the image settings to the
registry and the pipeline. Importing it here installs them for every user of the data layer.
"""

from fairbench.data import catalogue as _catalogue  # noqa: F401  (installs the loaders: see its docstring)
from fairbench.data.acquire import fetch
from fairbench.data.errors import (
    ChecksumError,
    DataError,
    DataUnavailableError,
    DataWarning,
    PreparedDataError,
    SpecError,
    SplitError,
    UnknownSettingError,
)
from fairbench.data.frames import ReferenceFrame, reference_frame
from fairbench.data.prepared import load_prepared, prepare
from fairbench.data.registry import get_dataset, get_setting, list_datasets, list_settings
from fairbench.data.splits import Part, SplitData, TorchPart, load_split

__all__ = [
    "ChecksumError",
    "DataError",
    "DataUnavailableError",
    "DataWarning",
    "Part",
    "PreparedDataError",
    "ReferenceFrame",
    "SplitData",
    "SpecError",
    "SplitError",
    "TorchPart",
    "UnknownSettingError",
    "fetch",
    "get_dataset",
    "get_setting",
    "list_datasets",
    "list_settings",
    "load_prepared",
    "load_split",
    "prepare",
    "reference_frame",
]
