"""Shared fixtures: the raw-data mirror (skipped without it, failing under CI=true), an isolated
raw-file cache, prepared small settings, wandb disabled, and downloads limited to 127.0.0.1."""

from __future__ import annotations

import os
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from fairbench.data import acquire

MIRROR_ENV = "FAIRBENCH_DATA_MIRROR"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
SMALL_SETTINGS = ("titanic-sex", "student_por-sex")


@pytest.fixture(autouse=True)
def _wandb_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A raw-file cache shared by the session's tests (never the user's cache)."""
    return tmp_path_factory.mktemp("fairbench-raw-cache")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, session_data_dir: Path) -> Iterator[None]:
    monkeypatch.setenv("FAIRBENCH_DATA_DIR", str(session_data_dir))
    monkeypatch.delenv("FAIRBENCH_DATA_BASE_URL", raising=False)
    real_urlopen = urllib.request.urlopen

    def local_only(request, *args, **kwargs):  # type: ignore[no-untyped-def]
        url = request.full_url if isinstance(request, urllib.request.Request) else str(request)
        host = urllib.parse.urlsplit(url).hostname
        if host not in LOCAL_HOSTS:
            raise AssertionError(f"a test tried to reach {url}; tests may only use 127.0.0.1")
        return real_urlopen(request, *args, **kwargs)

    monkeypatch.setattr(acquire.urllib.request, "urlopen", local_only)
    yield


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
