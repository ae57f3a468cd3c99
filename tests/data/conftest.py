"""Fixtures of the data-layer tests: an isolated cache, the raw-data mirror, frames built once.

* Every test gets ``FAIRBENCH_DATA_DIR`` pointing at a session temp folder (never the user's
  cache) and no ``FAIRBENCH_DATA_BASE_URL``.
* Downloads may only reach 127.0.0.1 / localhost.
* ``mirror``: the folder named by ``FAIRBENCH_DATA_MIRROR``. Unset or missing: the test is
  skipped, except when ``CI=true``, where it fails.
"""

from __future__ import annotations

import os
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fairbench.data import acquire
from fairbench.data.frames import ReferenceFrame, reference_frame
from fairbench.data.preprocess import EncodedTable, encode_frame

MIRROR_ENV = "FAIRBENCH_DATA_MIRROR"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A raw-file cache shared by the session's tests."""
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
def built(mirror: Path, session_data_dir: Path) -> Callable[[str], tuple[ReferenceFrame, EncodedTable]]:
    """``built(setting) -> (frame, encoded table)``, each built once per session from the mirror."""
    cache: dict[str, tuple[ReferenceFrame, EncodedTable]] = {}

    def get(setting: str) -> tuple[ReferenceFrame, EncodedTable]:
        if setting not in cache:
            frame = reference_frame(setting, data_dir=session_data_dir, mirror=mirror)
            cache[setting] = (frame, encode_frame(setting, frame))
        return cache[setting]

    return get
