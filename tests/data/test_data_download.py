"""The download path against a small HTTP server on 127.0.0.1 (and a closed port for "no network")."""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fairbench.data import ChecksumError, DataUnavailableError, DataWarning, fetch
from fairbench.data.acquire import fetch_spec
from fairbench.data.registry import DatasetSpec, RawFile, RawInput, Source, get_dataset

DATA = b"col\n" + b"1\n" * 5000
HTML = "returned an HTML page instead of the data file"


@dataclass
class Route:
    body: bytes
    status: int = 200
    content_type: str = "application/octet-stream"
    declared_length: int | None = None  # a larger value simulates a cut connection


@dataclass
class Server:
    base_url: str
    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(base_url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            state.hits.append(self.path)
            route = state.routes.get(self.path)
            if route is None:
                route = Route(b"<html><body>Not Found</body></html>", status=404, content_type="text/html")
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            length = route.declared_length if route.declared_length is not None else len(route.body)
            self.send_header("Content-Length", str(length))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(route.body)
            self.wfile.flush()
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def no_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAIRBENCH_DATA_MIRROR", raising=False)


def toy(*sources: Source, data: bytes = DATA) -> DatasetSpec:
    raw = RawFile("toy/t.csv", hashlib.sha256(data).hexdigest(), len(data), tuple(sources))
    return DatasetSpec("toy", (RawInput("table", (raw,)),), n_rows=1, n_columns=1, label="-", licence="-")


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def leftovers(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_good_download_is_verified_and_cached(server: Server, tmp_path: Path, no_mirror: None) -> None:
    server.routes["/files/t.csv"] = Route(DATA)
    paths = fetch_spec(toy(Source("https://example.org/files/t.csv")), data_dir=tmp_path, base_url=server.base_url)
    assert paths["table"].read_bytes() == DATA
    assert leftovers(tmp_path) == [tmp_path / "toy/t.csv"]
    fetch_spec(toy(Source("https://example.org/files/t.csv")), data_dir=tmp_path, base_url=server.base_url)
    assert server.hits == ["/files/t.csv"]  # second call served from the cache


def test_zip_and_nested_zip_members(server: Server, tmp_path: Path, no_mirror: None) -> None:
    inner = zipped({"t.csv": DATA, "other.csv": b"x"})
    server.routes["/outer.zip"] = Route(zipped({"inner.zip": inner, "README": b"r"}))
    spec = toy(
        Source("https://example.org/missing.zip", ("t.csv",)),
        Source("https://example.org/outer.zip", ("inner.zip", "t.csv")),
    )
    paths = fetch_spec(spec, data_dir=tmp_path, base_url=server.base_url)
    assert paths["table"].read_bytes() == DATA
    assert server.hits == ["/missing.zip", "/outer.zip"]


def test_base_url_from_environment(
    server: Server, tmp_path: Path, no_mirror: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/t.csv"] = Route(DATA)
    monkeypatch.setenv("FAIRBENCH_DATA_BASE_URL", server.base_url)
    assert fetch_spec(toy(Source("https://example.org/t.csv")), data_dir=tmp_path)["table"].is_file()


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (Route(b"<!DOCTYPE html><html><body>Log in</body></html>", content_type="text/html; charset=utf-8"), HTML),
        (Route(b"\n  <html><head><title>Error</title></head></html>", content_type="application/octet-stream"), HTML),
        (Route(DATA[:1000], declared_length=len(DATA)), f"was cut short: got 1000 of {len(DATA)} bytes"),
        (Route(b"gone", status=404, content_type="text/plain"), "failed with HTTP 404"),
        (Route(b"<html>server error</html>", status=500, content_type="text/html"), "failed with HTTP 500"),
    ],
    ids=["html-content-type", "html-body", "truncated", "http-404", "http-500"],
)
def test_bad_responses_give_clear_errors_and_leave_nothing(
    server: Server, tmp_path: Path, no_mirror: None, route: Route, message: str
) -> None:
    server.routes["/t.csv"] = route
    with pytest.raises(DataUnavailableError, match=message):
        fetch_spec(toy(Source("https://example.org/t.csv")), data_dir=tmp_path, base_url=server.base_url)
    assert leftovers(tmp_path) == []


def test_html_instead_of_a_zip(server: Server, tmp_path: Path, no_mirror: None) -> None:
    server.routes["/a.zip"] = Route(b"<html>moved</html>", content_type="text/html")
    with pytest.raises(DataUnavailableError, match="HTML page"):
        fetch_spec(toy(Source("https://example.org/a.zip", ("t.csv",))), data_dir=tmp_path, base_url=server.base_url)
    assert leftovers(tmp_path) == []


def test_wrong_bytes_fail_the_checksum_and_leave_nothing(server: Server, tmp_path: Path, no_mirror: None) -> None:
    server.routes["/t.csv"] = Route(DATA + b"9\n")
    with pytest.raises(ChecksumError) as info:
        fetch_spec(toy(Source("https://example.org/t.csv")), data_dir=tmp_path, base_url=server.base_url)
    message = str(info.value)
    assert "toy/t.csv" in message and hashlib.sha256(DATA).hexdigest() in message
    assert hashlib.sha256(DATA + b"9\n").hexdigest() in message and "Re-download" in message
    assert leftovers(tmp_path) == []


def test_no_network_names_the_mirror_option(tmp_path: Path, no_mirror: None) -> None:
    base = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(DataUnavailableError) as info:
        fetch("student_por", data_dir=tmp_path, base_url=base)
    message = str(info.value)
    assert "could not download student-por.csv" in message
    assert "FAIRBENCH_DATA_MIRROR" in message and "student/student-por.csv" in message
    assert "\n" not in message
    assert leftovers(tmp_path) == []


@pytest.mark.mirror
def test_real_student_zip_download(server: Server, tmp_path: Path, no_mirror: None, mirror: Path) -> None:
    member = (mirror / "student/student-por.csv").read_bytes()
    server.routes["/ml/machine-learning-databases/00320/student.zip"] = Route(
        zipped({"student-mat.csv": b"", "student-por.csv": member, "student.txt": b""}), content_type="application/zip"
    )
    paths = fetch("student_por", data_dir=tmp_path, base_url=server.base_url)
    assert paths["table"] == tmp_path / "student/student-por.csv"
    assert hashlib.sha256(paths["table"].read_bytes()).hexdigest() == get_dataset("student_por").files[0].sha256


@pytest.mark.mirror
def test_real_titanic_falls_back_to_the_csv(server: Server, tmp_path: Path, no_mirror: None, mirror: Path) -> None:
    csv = (mirror / "titanic/titanic3.csv").read_bytes()
    server.routes["/data/repo/titanic3.csv"] = Route(csv, content_type="text/csv")
    paths = fetch("titanic", data_dir=tmp_path, base_url=server.base_url)
    assert paths["table"].name == "titanic3.csv"
    assert server.hits == ["/data/repo/titanic3.xls", "/data/repo/titanic3.csv"]
    server.routes["/data/repo/titanic3.xls"] = Route((mirror / "titanic/titanic3.xls").read_bytes())
    assert fetch("titanic", data_dir=tmp_path, base_url=server.base_url)["table"].name == "titanic3.csv"  # cached wins


def test_a_source_with_wrong_bytes_is_skipped_for_the_next_one(server: Server, tmp_path: Path, no_mirror: None) -> None:
    server.routes["/a/t.csv"] = Route(b"re-saved copy\n")
    server.routes["/b/t.csv"] = Route(DATA)
    spec = toy(Source("https://example.org/a/t.csv"), Source("https://example.org/b/t.csv"))
    with pytest.warns(DataWarning, match="failed its checksum"):
        paths = fetch_spec(spec, data_dir=tmp_path, base_url=server.base_url)
    assert paths["table"].read_bytes() == DATA
    assert leftovers(tmp_path) == [tmp_path / "toy/t.csv"]


# the base URL may hold the mirror layout; the cache is checked before anything is downloaded

def test_base_url_with_the_mirror_layout(server: Server, tmp_path: Path, no_mirror: None) -> None:
    server.routes["/pre/toy/t.csv"] = Route(DATA)
    spec = toy(Source("https://example.org/files/t.csv"), Source("https://example.org/a.zip", ("t.csv",)))
    paths = fetch_spec(spec, data_dir=tmp_path, base_url=server.base_url + "/pre/")
    assert paths["table"].read_bytes() == DATA
    assert server.hits == ["/pre/files/t.csv", "/pre/a.zip", "/pre/toy/t.csv"]  # canonical paths first


def test_mirror_layout_paths_are_quoted(server: Server, tmp_path: Path, no_mirror: None) -> None:
    raw = RawFile("toy/a b.xls", hashlib.sha256(DATA).hexdigest(), len(DATA), (Source("https://example.org/x.xls"),))
    spec = DatasetSpec("toy", (RawInput("table", (raw,)),), n_rows=1, n_columns=1, label="-", licence="-")
    server.routes["/toy/a%20b.xls"] = Route(DATA)
    assert fetch_spec(spec, data_dir=tmp_path, base_url=server.base_url)["table"] == tmp_path / "toy/a b.xls"


def test_a_missing_file_names_both_layouts(server: Server, tmp_path: Path, no_mirror: None) -> None:
    with pytest.raises(DataUnavailableError) as info:
        fetch_spec(toy(Source("https://example.org/files/t.csv")), data_dir=tmp_path, base_url=server.base_url)
    message = str(info.value)
    assert f"{server.base_url}/files/t.csv failed with HTTP 404" in message
    assert f"{server.base_url}/toy/t.csv failed with HTTP 404" in message and "\n" not in message


def test_an_unreachable_base_url_is_tried_once(tmp_path: Path, no_mirror: None) -> None:
    base = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(DataUnavailableError) as info:
        fetch_spec(toy(Source("https://example.org/files/t.csv")), data_dir=tmp_path, base_url=base)
    assert str(info.value).count("could not reach") == 1


def test_a_cache_that_is_a_file_is_refused_before_downloading(server: Server, tmp_path: Path, no_mirror: None,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    server.routes["/t.csv"] = Route(DATA)
    (tmp_path / "cache").write_text("not a folder")
    monkeypatch.setenv("FAIRBENCH_DATA_DIR", str(tmp_path / "cache"))
    with pytest.raises(DataUnavailableError) as info:
        fetch_spec(toy(Source("https://example.org/t.csv")), base_url=server.base_url)
    message = str(info.value)
    assert f"data cache {tmp_path / 'cache'} is a file" in message and "FAIRBENCH_DATA_DIR" in message
    assert server.hits == [] and "\n" not in message


def test_the_cli_reports_a_cache_below_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from fairbench.cli import main

    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("FAIRBENCH_DATA_DIR", str(tmp_path / "file" / "raw"))
    monkeypatch.setenv("FAIRBENCH_DATA_MIRROR", str(tmp_path / "mirror"))
    (tmp_path / "mirror" / "student").mkdir(parents=True)
    (tmp_path / "mirror" / "student" / "student-por.csv").write_bytes(b"x")
    assert main(["data", "fetch", "student_por"]) == 2
    err = capsys.readouterr().err
    assert f"lies below {tmp_path / 'file'}, which is a file" in err and err.count("\n") == 1


def _refuse_writes_into(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """A read-only folder, also for root (who may write anywhere): the kernel's answer made explicit."""
    import os

    from fairbench import io as fb_io

    folder.chmod(0o555)
    if os.geteuid() == 0:
        real = fb_io.tempfile.mkstemp

        def refuse(*args, dir=None, **kwargs):  # type: ignore[no-untyped-def]
            if dir is not None and Path(dir) == folder:
                raise PermissionError(13, "Permission denied", str(dir))
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(fb_io.tempfile, "mkstemp", refuse)


def test_a_read_only_cache_is_refused_before_downloading(server: Server, tmp_path: Path, no_mirror: None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    server.routes["/t.csv"] = Route(DATA)
    cache = tmp_path / "cache"
    cache.mkdir()
    _refuse_writes_into(monkeypatch, cache)
    try:
        with pytest.raises(DataUnavailableError, match=f"cannot write into {cache} .*Permission denied"):
            fetch_spec(toy(Source("https://example.org/t.csv")), data_dir=cache, base_url=server.base_url)
        assert server.hits == []
    finally:
        cache.chmod(0o755)


def test_a_read_only_cache_that_holds_the_files_is_fine(server: Server, tmp_path: Path, no_mirror: None,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    server.routes["/t.csv"] = Route(DATA)
    cache = tmp_path / "cache"
    fetch_spec(toy(Source("https://example.org/t.csv")), data_dir=cache, base_url=server.base_url)
    _refuse_writes_into(monkeypatch, cache)
    try:
        assert fetch_spec(toy(Source("https://example.org/t.csv")), data_dir=cache)["table"].read_bytes() == DATA
    finally:
        cache.chmod(0o755)


def test_a_full_disk_while_caching_is_one_clear_error(server: Server, tmp_path: Path, no_mirror: None,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from fairbench.data import acquire

    def disk_full(target, data):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    server.routes["/t.csv"] = Route(DATA)
    monkeypatch.setattr(acquire, "write_bytes_atomic", disk_full)
    with pytest.raises(DataUnavailableError, match="could not add .*toy/t.csv to the data cache .No space left"):
        fetch_spec(toy(Source("https://example.org/t.csv")), data_dir=tmp_path, base_url=server.base_url)
    assert leftovers(tmp_path) == []
