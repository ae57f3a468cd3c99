"""Fixtures of the data-layer tests: frames built once per session. The isolated cache, the
loopback-only network guard and the mirror come from ``tests/conftest.py``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fairbench.data.frames import ReferenceFrame, reference_frame
from fairbench.data.preprocess import EncodedTable, encode_frame


@pytest.fixture(scope="session")
def built(mirror: Path, session_data_dir: Path) -> Callable[[str], tuple[ReferenceFrame, EncodedTable]]:
    """``built(setting) -> (frame, encoded table)``, each built once per session from the mirror."""
    cache: dict[str, tuple[ReferenceFrame, EncodedTable]] = {}

    def get(setting: str) -> tuple[ReferenceFrame, EncodedTable]:
        if setting not in cache:
            frame = reference_frame(setting, data_dir=session_data_dir, mirror=mirror)
            cache[setting] = (frame, encode_frame(setting, frame))
        return cache[setting]

    return get


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings registered by a test (specs, code) are forgotten afterwards; ``$FAIRBENCH_DATA_SPECS`` unset."""
    from fairbench.data import declare, registry

    # set, then deleted, so that monkeypatch restores the variable even when `use_specs` sets it behind its back
    monkeypatch.setenv(declare.SPECS_ENV, "")
    monkeypatch.delenv(declare.SPECS_ENV)
    registry.list_settings()  # shipped specs (and image settings) first, so that they survive
    saved = (dict(registry.DATASETS), dict(registry.SETTINGS), set(declare._LOADED), set(declare._SEEN_ENV))
    yield
    for live, old in zip((registry.DATASETS, registry.SETTINGS, declare._LOADED, declare._SEEN_ENV), saved):
        live.clear()
        live.update(old)


COMPAS_FILE = "compas/compas-scores-two-years.csv"


@pytest.fixture(scope="session")
def compas_mirror(mirror: Path) -> Path:
    """The mirror, when it holds COMPAS (``python3 .ci/compas-mirror DEST BASE`` puts it there from a PyPI
    wheel; .ci/run does): skip without it, fail under CI=true like the other mirror tests."""
    if not (mirror / COMPAS_FILE).is_file():
        message = f"{mirror / COMPAS_FILE} is missing: run python3 .ci/compas-mirror DEST {mirror} and point the mirror at DEST"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(message + " (CI=true: failing instead of skipping)")
        pytest.skip(message)
    return mirror
