"""Shared fixtures: the raw-data mirror (skipped without it, failing under CI=true), an isolated
raw-file cache, prepared small settings, and wandb disabled for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

MIRROR_ENV = "FAIRBENCH_DATA_MIRROR"
SMALL_SETTINGS = ("titanic-sex", "student_por-sex")


@pytest.fixture(autouse=True)
def _wandb_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A raw-file cache shared by the session's tests (never the user's cache)."""
    return tmp_path_factory.mktemp("fairbench-raw-cache")


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The raw-data mirror folder (skip without it; fail without it on CI)."""
    value = os.environ.get(MIRROR_ENV, "")
    path = Path(value) if value else None
    if path is None or not path.is_dir():
        message = f"{MIRROR_ENV}={value!r} is not a folder: the real-file tests need the raw-data mirror"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(message + " (CI=true: failing instead of skipping)")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def prepared_small(mirror: Path, session_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the prepared tables of the two small settings (titanic, student_por)."""
    from fairbench.data import prepare

    out = tmp_path_factory.mktemp("prepared")
    for setting in SMALL_SETTINGS:
        prepare(setting, out, data_dir=session_data_dir, mirror=mirror)
    return out
