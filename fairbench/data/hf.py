"""Prepared settings as Hugging Face ``datasets`` objects, offline.

The training loop never uses ``datasets`` (it reads the Parquet directly, which is faster); this is
for people who want the benchmark's tables in the Hugging Face ecosystem. The offline variables are
set before ``datasets`` is imported, so nothing reaches for the Hub.
"""

from __future__ import annotations

import os
from typing import Any

from fairbench.data.prepared import load_prepared, prepared_paths

OFFLINE_VARIABLES = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}


def load_hf_dataset(prepared_dir: str | os.PathLike[str], setting: str, *,
                    cache_dir: str | os.PathLike[str] | None = None) -> Any:
    """``datasets.Dataset`` of a prepared setting (features, ``__label__``, ``__group__``), offline.

    The prepared table is validated first (clear error when missing or inconsistent).
    """
    load_prepared(prepared_dir, setting)
    for name, value in OFFLINE_VARIABLES.items():
        os.environ.setdefault(name, value)
    import datasets

    parquet, _ = prepared_paths(prepared_dir, setting)
    return datasets.Dataset.from_parquet(str(parquet), cache_dir=None if cache_dir is None else str(cache_dir))
