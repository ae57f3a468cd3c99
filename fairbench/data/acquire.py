"""Get verified raw files into the local cache, from a mirror folder or by download.

Folders and environment variables:

* **Cache**: ``data_dir=`` or ``$FAIRBENCH_DATA_DIR``, default ``~/.cache/fairbench/raw``. Files
  keep the layout of the registry (``adult/adult.data``, ``titanic/titanic3.xls``, ...); a declared
  spec's download is keyed by its content (``<dataset>/<sha256>/<name>``), so that specs from two
  projects never share an entry. A declared local file (``source.path``) is read in place, never cached.
* **Mirror**: ``mirror=`` or ``$FAIRBENCH_DATA_MIRROR``: a folder with the same layout. When set,
  files are copied from it and the network is never used.
* **Download** (no mirror): the canonical URLs of :mod:`fairbench.data.registry`, through
  ``urllib``. Zip sources are opened in memory and only the pinned member is kept.
* **Base URL**: ``base_url=`` or ``$FAIRBENCH_DATA_BASE_URL`` (e.g. ``http://127.0.0.1:8000/raw``)
  points the download at another server, which may hold either layout: first the canonical paths
  under it (scheme and host replaced, the base's path prepended:
  ``<base>/ml/machine-learning-databases/adult/adult.data``), then the mirror layout
  (``<base>/adult/adult.data``: a mirror folder served over HTTP, e.g. ``python -m http.server``).

The cache must be a writable folder when a file has to be added to it; that is checked before any
download, and a cache that cannot take a file is one error naming the folder (a read-only cache that
already holds every file is fine).

Every file is checked against its pinned sha256 *before* it enters the cache, and written
atomically; a file that fails is never used and never left behind. Cached files are re-hashed
once per process (then trusted while their size and mtime do not change).
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from fairbench import __version__
from fairbench.data.errors import (
    ALL_SOURCES_FAILED,
    BAD_ZIP,
    BASE_URL_ENV,
    CACHE_CORRUPTED,
    CHECKSUM_FIX_DOWNLOAD,
    CHECKSUM_FIX_DECLARED,
    CHECKSUM_FIX_MIRROR,
    CHECKSUM_MISMATCH,
    DATA_DIR_ENV,
    HTML_INSTEAD_OF_DATA,
    HTTP_ERROR,
    LOCAL_CHANGED,
    LOCAL_MISSING,
    MIRROR_ENV,
    MIRROR_MISSING,
    NO_NETWORK,
    TRUNCATED,
    UNPINNED,
    ZIP_MEMBER_MISSING,
    SOURCE_SKIPPED,
    ChecksumError,
    DataUnavailableError,
    DataWarning,
)
from fairbench.data.registry import DatasetSpec, RawFile, RawInput, Source, get_dataset
from fairbench.io import OutputError, check_writable_folder, write_bytes_atomic

DEFAULT_DATA_DIR = Path("~/.cache/fairbench/raw")
DEFAULT_TIMEOUT = 60.0
_CHUNK = 1 << 16

# path -> (size, mtime_ns) of cache files whose sha256 was checked in this process
_VERIFIED: dict[Path, tuple[int, int, str]] = {}  # path -> (size, mtime_ns, sha256) checked
# cache folders found writable in this process
_WRITABLE: set[Path] = set()
CACHE_UNWRITABLE_FIX = "set " + DATA_DIR_ENV + " (or --data-dir) to a writable folder"
CACHE_WRITE_FAILED = ("could not add {path} to the data cache ({reason}); nothing was cached. Free some space or set "
                      + DATA_DIR_ENV + " (or --data-dir) to another folder")


class NetworkError(DataUnavailableError):
    """The server could not be reached at all (no network, refused, timed out)."""


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: the argument, else ``$FAIRBENCH_DATA_DIR``, else ``~/.cache/fairbench/raw``."""
    chosen = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    return Path(chosen).expanduser()


def resolve_mirror(mirror: str | os.PathLike[str] | None = None) -> Path | None:
    """The mirror folder: the argument, else ``$FAIRBENCH_DATA_MIRROR``, else ``None`` (download)."""
    chosen = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    return Path(chosen).expanduser() if chosen else None


def resolve_base_url(base_url: str | None = None) -> str | None:
    """The download host override: the argument, else ``$FAIRBENCH_DATA_BASE_URL``, else ``None``."""
    return base_url or os.environ.get(BASE_URL_ENV) or None


def rebase_url(url: str, base_url: str | None) -> str:
    """``url`` with its scheme and host (and any path prefix of ``base_url``) replaced."""
    if not base_url:
        return url
    parts = urllib.parse.urlsplit(url)
    base = urllib.parse.urlsplit(base_url)
    return urllib.parse.urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + parts.path, parts.query, ""))


def mirror_url(base_url: str, raw: RawFile) -> str:
    """Where a server with the mirror layout keeps ``raw``: ``<base_url>/<relpath>`` (path quoted)."""
    return base_url.rstrip("/") + "/" + urllib.parse.quote(raw.relpath)


def check_cache_writable(root: Path) -> None:
    """Before a file is added to the cache: ``root`` is (or can become) a writable folder; else a
    :class:`DataUnavailableError` naming it and the fix. Checked once per process and folder."""
    if root in _WRITABLE:
        return
    try:
        check_writable_folder(root, "data cache", fix=CACHE_UNWRITABLE_FIX)
    except OutputError as error:
        raise DataUnavailableError(str(error)) from None
    _WRITABLE.add(root)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_cached(dataset: str, data_dir: str | os.PathLike[str] | None = None) -> bool:
    """Whether every input of ``dataset`` has a file in the cache (existence only, no hashing)."""
    root = resolve_data_dir(data_dir)
    spec = get_dataset(dataset)
    return all(any((f.local or root / f.cache_relpath).is_file() for f in inp.options) for inp in spec.inputs)


def fetch(
    dataset: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Path]:
    """Verified cache paths of the raw files of ``dataset``, keyed by input role.

    Roles: adult ``test``/``data``; us_crime ``data``/``names``; every other dataset ``table``.
    Raises :class:`ChecksumError` for a file with the wrong sha256 and
    :class:`DataUnavailableError` when a file cannot be obtained.
    """
    return fetch_spec(get_dataset(dataset), data_dir=data_dir, mirror=mirror, base_url=base_url, timeout=timeout)


def fetch_spec(
    spec: DatasetSpec,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Path]:
    """:func:`fetch` for an explicit :class:`DatasetSpec`."""
    root = resolve_data_dir(data_dir)
    mirror_dir = resolve_mirror(mirror)
    base = resolve_base_url(base_url)
    return {inp.role: _obtain(spec.name, inp, root, mirror_dir, base, timeout) for inp in spec.inputs}


def _obtain(dataset: str, inp: RawInput, root: Path, mirror: Path | None, base: str | None, timeout: float) -> Path:
    """One input: the first option that is cached (or, with a mirror, in the mirror) wins.

    A declared local source (``source.path``) is read in place once its sha256 is checked: editing the
    file and pasting its new sha256 into the spec is all it takes, and nothing is copied to the cache.
    """
    for raw in inp.options:
        if raw.local is not None:
            return _local_ok(dataset, raw)
    if mirror is not None:
        for raw in inp.options:
            if _cached_ok(dataset, raw, root):
                return root / raw.cache_relpath
            if (mirror / raw.relpath).is_file():
                check_cache_writable(root)
                return _from_mirror(dataset, raw, root, mirror)
        expected = " or ".join(str(mirror / raw.relpath) for raw in inp.options)
        raise DataUnavailableError(MIRROR_MISSING.format(dataset=dataset, mirror=mirror, expected=expected))
    for raw in inp.options:
        if _cached_ok(dataset, raw, root):
            return root / raw.cache_relpath
    check_cache_writable(root)
    return _download_any(dataset, inp, root, base, timeout)


def _local_ok(dataset: str, raw: RawFile) -> Path:
    """The verified local file of a declared spec (hashed again whenever its size or mtime changes)."""
    path = raw.local
    assert path is not None
    try:
        stat = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise DataUnavailableError(LOCAL_MISSING.format(dataset=dataset, path=path, origin=raw.origin)) from None
    key = (stat.st_size, stat.st_mtime_ns)
    if raw.pinned and _VERIFIED.get(path) == (*key, raw.sha256):
        return path
    try:
        actual = sha256_file(path)
    except OSError as error:
        raise DataUnavailableError(f"{dataset}: cannot read local source file {path} ({error.strerror or error}; "
                                   f"key 'source.path' of {raw.origin})") from None
    if not raw.pinned:
        raise ChecksumError(UNPINNED.format(dataset=dataset, origin=raw.origin, path=path, actual=actual))
    if actual != raw.sha256:
        raise ChecksumError(LOCAL_CHANGED.format(dataset=dataset, path=path, actual=actual, expected=raw.sha256,
                                                 origin=raw.origin))
    _VERIFIED[path] = (*key, raw.sha256)
    return path


def _cached_ok(dataset: str, raw: RawFile, root: Path) -> bool:
    if not raw.pinned:  # an unpinned declared download is never cached: fetching it tells its hash
        return False
    path = root / raw.cache_relpath
    try:
        stat = path.stat()
    except (FileNotFoundError, NotADirectoryError):  # not cached (a cache that is a file is refused on writing)
        return False
    key = (stat.st_size, stat.st_mtime_ns, raw.sha256)
    if _VERIFIED.get(path) == key:
        return True
    actual = sha256_file(path)
    if actual != raw.sha256:
        raise ChecksumError(
            CACHE_CORRUPTED.format(path=path, expected=raw.sha256, actual=actual, dataset=dataset)
        )
    _VERIFIED[path] = key
    return True


def _check(data: bytes, raw: RawFile, source: str, fix: str) -> None:
    actual = sha256_bytes(data)
    if not raw.pinned:
        raise ChecksumError(UNPINNED.format(dataset=raw.relpath.split("/")[0], origin=raw.origin, path=source,
                                            actual=actual))
    if actual != raw.sha256:
        if raw.origin != "built-in":
            fix = fix + " " + CHECKSUM_FIX_DECLARED.format(origin=raw.origin, actual=actual)
        raise ChecksumError(
            CHECKSUM_MISMATCH.format(file=raw.relpath, source=source, expected=raw.sha256, actual=actual, fix=fix)
        )


def _store(data: bytes, raw: RawFile, root: Path) -> Path:
    dest = root / raw.cache_relpath
    try:
        write_bytes_atomic(dest, data)
    except OSError as error:
        raise DataUnavailableError(CACHE_WRITE_FAILED.format(path=dest, reason=error.strerror or error)) from None
    stat = dest.stat()
    _VERIFIED[dest] = (stat.st_size, stat.st_mtime_ns, raw.sha256)
    return dest


def _from_mirror(dataset: str, raw: RawFile, root: Path, mirror: Path) -> Path:
    """Copy ``raw`` from the mirror folder (or from ``mirror`` itself when it is the file) after checking it."""
    src = mirror if mirror.is_file() else mirror / raw.relpath
    data = src.read_bytes()
    _check(data, raw, str(src), CHECKSUM_FIX_MIRROR)
    return _store(data, raw, root)


def _attempts(inp: RawInput, base: str | None,
              failures: list[DataUnavailableError]) -> Iterator[tuple[RawFile, Source, str]]:
    """(file, source, URL) to try in order: every canonical source (rebased onto ``base``), then,
    with a base URL that answered (no :class:`NetworkError` in ``failures`` so far), the mirror layout."""
    for raw in inp.options:
        for source in raw.sources:
            yield raw, source, rebase_url(source.url, base)
    if base and not any(isinstance(exc, NetworkError) for exc in failures):
        for raw in inp.options:
            url = mirror_url(base, raw)
            yield raw, Source(url), url


def _download_any(dataset: str, inp: RawInput, root: Path, base: str | None, timeout: float) -> Path:
    """Try every source of every option in order; the first verified payload is cached.

    With a base URL, the canonical paths under it come first, then (unless the server could not be
    reached) the mirror layout :func:`mirror_url`. A source whose bytes fail the checksum is skipped
    (its bytes are never written; a :class:`DataWarning` names it if a later source works); if no
    source works, the first checksum failure is raised, else a summary of the failures.
    """
    failures: list[DataUnavailableError] = []
    bad_checksums: list[ChecksumError] = []
    for raw, source, url in _attempts(inp, base, failures):
        try:
            data = _payload(dataset, raw, source, url, timeout)
        except ChecksumError as exc:
            bad_checksums.append(exc)
            continue
        except DataUnavailableError as exc:
            failures.append(exc)
            continue
        for exc in bad_checksums:
            warnings.warn(SOURCE_SKIPPED.format(error=exc), DataWarning, stacklevel=4)
        return _store(data, raw, root)
    if bad_checksums:
        raise bad_checksums[0]
    if len(failures) == 1 and not isinstance(failures[0], NetworkError):
        raise failures[0]
    details = "; ".join(str(exc) for exc in failures)
    what = " or ".join(raw.name for raw in inp.options)
    relpath = " or ".join(raw.relpath for raw in inp.options)
    if any(isinstance(exc, NetworkError) for exc in failures):
        raise DataUnavailableError(NO_NETWORK.format(dataset=dataset, what=what, details=details, relpath=relpath))
    raise DataUnavailableError(ALL_SOURCES_FAILED.format(dataset=dataset, what=what, details=details))


def _payload(dataset: str, raw: RawFile, source: Source, url: str, timeout: float) -> bytes:
    """Download ``source`` from ``url`` (its URL, maybe rebased) and return the verified bytes of
    ``raw`` (extracted from zips)."""
    body, content_type = download(url, dataset=dataset, timeout=timeout, label=raw.name)
    html = _looks_like_html(body, content_type)
    if source.member:
        data = _extract(body, source.member, dataset, url, html)
    else:
        data = body
        if html and sha256_bytes(data) != raw.sha256:
            raise DataUnavailableError(HTML_INSTEAD_OF_DATA.format(dataset=dataset, url=url))
    _check(data, raw, url, CHECKSUM_FIX_DOWNLOAD.format(dataset=dataset))
    return data


def download(url: str, *, dataset: str, timeout: float = DEFAULT_TIMEOUT, label: str = "") -> tuple[bytes, str]:
    """The body and content type of ``url``; clear errors for HTTP errors and truncated bodies."""
    request = urllib.request.Request(url, headers={"User-Agent": f"fairbench/{__version__}"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise DataUnavailableError(
            HTTP_ERROR.format(dataset=dataset, url=url, status=exc.code, reason=exc.reason)
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise NetworkError(
            f"{dataset}: could not reach {url} ({reason})"
        ) from None
    with response:
        content_type = response.headers.get("Content-Type", "") or ""
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.strip().isdigit() else None
        body = bytearray()
        try:
            with tqdm(
                total=expected, unit="B", unit_scale=True, desc=label or url, leave=False, disable=None, file=sys.stderr
            ) as bar:
                while chunk := response.read(_CHUNK):
                    body += chunk
                    bar.update(len(chunk))
        except (http.client.IncompleteRead, OSError) as exc:
            got = len(body) + len(getattr(exc, "partial", b""))
            raise DataUnavailableError(
                TRUNCATED.format(dataset=dataset, url=url, got=got, expected=expected if expected is not None else "?")
            ) from None
    if expected is not None and len(body) != expected:
        raise DataUnavailableError(TRUNCATED.format(dataset=dataset, url=url, got=len(body), expected=expected))
    return bytes(body), content_type


def _looks_like_html(body: bytes, content_type: str) -> bool:
    head = body[:512].lstrip().lower()
    return "text/html" in content_type.lower() or head.startswith(b"<!doctype") or head.startswith(b"<html")


def _extract(body: bytes, member: tuple[str, ...], dataset: str, url: str, html: bool) -> bytes:
    """The bytes of ``member`` (a path through nested zips) inside the zip ``body``."""
    data = body
    for name in member:
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile as exc:
            if html:
                raise DataUnavailableError(HTML_INSTEAD_OF_DATA.format(dataset=dataset, url=url)) from None
            raise DataUnavailableError(BAD_ZIP.format(dataset=dataset, url=url, reason=exc)) from None
        with archive:
            matches = [n for n in archive.namelist() if n == name or n.rsplit("/", 1)[-1] == name]
            if not matches:
                raise DataUnavailableError(ZIP_MEMBER_MISSING.format(dataset=dataset, url=url, member="/".join(member)))
            data = archive.read(matches[0])
    return data
