"""Acquisition from a mirror folder and the cache (no network; synthetic files)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from fairbench.data import ChecksumError, DataUnavailableError, fetch
from fairbench.data import acquire
from fairbench.data.acquire import fetch_spec, rebase_url, resolve_data_dir, resolve_mirror
from fairbench.data.registry import DatasetSpec, RawFile, RawInput, Source, get_dataset

GOOD = b"a,b\n1,2\n"
OTHER = b"x,y\n3,4\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raw(relpath: str, data: bytes) -> RawFile:
    source = Source(f"https://example.org/{relpath}")
    return RawFile(relpath=relpath, sha256=sha(data), size=len(data), sources=(source,))


def spec(*options: RawFile) -> DatasetSpec:
    return DatasetSpec(
        name="toy", inputs=(RawInput("table", tuple(options)),), n_rows=1, n_columns=2, label="b", licence="-"
    )


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_copy_from_mirror_then_served_from_cache(tmp_path: Path) -> None:
    mirror, cache = tmp_path / "mirror", tmp_path / "cache"
    write(mirror / "toy/a.csv", GOOD)
    toy = spec(raw("toy/a.csv", GOOD))
    paths = fetch_spec(toy, data_dir=cache, mirror=mirror)
    assert paths == {"table": cache / "toy/a.csv"}
    assert paths["table"].read_bytes() == GOOD
    (mirror / "toy/a.csv").unlink()
    assert fetch_spec(toy, data_dir=cache, mirror=mirror) == paths  # the cache is enough now
    assert files_under(cache) == [cache / "toy/a.csv"]


def test_corrupted_mirror_file_is_rejected_and_nothing_is_cached(tmp_path: Path) -> None:
    mirror, cache = tmp_path / "mirror", tmp_path / "cache"
    write(mirror / "student/student-por.csv", b"school;sex\nGP;F\n")
    expected = get_dataset("student_por").files[0].sha256
    with pytest.raises(ChecksumError) as info:
        fetch("student_por", data_dir=cache, mirror=mirror)
    message = str(info.value)
    assert "checksum mismatch for student/student-por.csv" in message
    assert expected in message and sha(b"school;sex\nGP;F\n") in message
    assert "Check the mirror copy" in message
    assert files_under(cache) == []


def test_missing_mirror_file_names_the_expected_path(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with pytest.raises(DataUnavailableError) as info:
        fetch("titanic", data_dir=tmp_path / "cache", mirror=mirror)
    message = str(info.value)
    assert str(mirror / "titanic/titanic3.xls") in message and str(mirror / "titanic/titanic3.csv") in message
    assert "FAIRBENCH_DATA_MIRROR" in message
    assert files_under(tmp_path / "cache") == []


def test_mirror_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "m/toy/a.csv", GOOD)
    monkeypatch.setenv("FAIRBENCH_DATA_MIRROR", str(tmp_path / "m"))
    monkeypatch.setenv("FAIRBENCH_DATA_DIR", str(tmp_path / "c"))
    assert fetch_spec(spec(raw("toy/a.csv", GOOD))) == {"table": tmp_path / "c/toy/a.csv"}


def test_first_available_alternative_wins(tmp_path: Path) -> None:
    first, second = raw("toy/a.xls", GOOD), raw("toy/a.csv", OTHER)
    mirror = tmp_path / "mirror"
    write(mirror / "toy/a.csv", OTHER)
    got = fetch_spec(spec(first, second), data_dir=tmp_path / "c1", mirror=mirror)
    assert got["table"].name == "a.csv"
    write(mirror / "toy/a.xls", GOOD)
    got = fetch_spec(spec(first, second), data_dir=tmp_path / "c2", mirror=mirror)
    assert got["table"].name == "a.xls"


def test_corrupted_cache_file_asks_to_delete_it(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    write(cache / "toy/a.csv", OTHER)
    with pytest.raises(ChecksumError, match=r"is corrupted.*Delete that one file"):
        fetch_spec(spec(raw("toy/a.csv", GOOD)), data_dir=cache, mirror=tmp_path)


def test_cache_is_rehashed_when_the_file_changes(tmp_path: Path) -> None:
    mirror, cache = tmp_path / "mirror", tmp_path / "cache"
    write(mirror / "toy/a.csv", GOOD)
    toy = spec(raw("toy/a.csv", GOOD))
    path = fetch_spec(toy, data_dir=cache, mirror=mirror)["table"]
    assert acquire._VERIFIED[path] == (path.stat().st_size, path.stat().st_mtime_ns, sha(GOOD))
    path.write_bytes(GOOD + b"tampered\n")
    with pytest.raises(ChecksumError, match="Delete that one file"):
        fetch_spec(toy, data_dir=cache, mirror=mirror)


def test_locations_from_arguments_environment_and_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FAIRBENCH_DATA_DIR")
    monkeypatch.delenv("FAIRBENCH_DATA_MIRROR", raising=False)
    assert resolve_data_dir() == Path("~/.cache/fairbench/raw").expanduser()
    assert resolve_mirror() is None
    assert resolve_data_dir(tmp_path) == tmp_path
    monkeypatch.setenv("FAIRBENCH_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"


def test_rebase_url_replaces_scheme_and_host() -> None:
    path = "/ml/machine-learning-databases/00320/student.zip"
    url = "https://archive.ics.uci.edu" + path
    assert rebase_url(url, None) == url
    assert rebase_url(url, "http://127.0.0.1:8123") == "http://127.0.0.1:8123" + path
    assert rebase_url(url, "http://127.0.0.1:8123/pre/") == "http://127.0.0.1:8123/pre" + path
    assert rebase_url("https://h/a%20b.xls", "http://127.0.0.1:1") == "http://127.0.0.1:1/a%20b.xls"


def test_is_cached_checks_every_input(tmp_path: Path) -> None:
    assert not acquire.is_cached("adult", tmp_path)
    write(tmp_path / "adult/adult.data", b"")
    assert not acquire.is_cached("adult", tmp_path)
    write(tmp_path / "adult/adult.test", b"")
    assert acquire.is_cached("adult", tmp_path)
    write(tmp_path / "titanic/titanic3.csv", b"")
    assert acquire.is_cached("titanic", tmp_path)
