"""Atomic file output: a reader sees either the old file or the complete new one, never half of it."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only if the block succeeds.

    On any exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    write_bytes_atomic(target, text.encode("utf-8"))


def write_json_atomic(target: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON to ``target`` atomically."""
    write_text_atomic(target, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_with_atomic(target: str | os.PathLike[str], writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` (e.g. ``df.to_parquet``) and move the result onto ``target`` atomically."""
    with atomic_path(target) as tmp:
        writer(tmp)


class OutputError(Exception):
    """An output folder that cannot take the files (a file in the way, read-only, a full disk)."""


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (without following a missing tail)."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(".")


def check_writable_folder(folder: str | os.PathLike[str], what: str = "output folder", fix: str | None = None) -> Path:
    """Check, without creating anything, that ``folder`` is or can become a writable folder.

    Raises :class:`OutputError` naming the problem (``folder`` is a file, lies below a file, or the
    folder that would hold it refuses a new file) and ``fix`` (default: choose another path);
    returns ``folder`` as a :class:`Path`.
    """
    if str(folder).strip() == "":
        raise OutputError(f"the {what} is an empty path; name a folder")
    folder = Path(folder)
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        where = "is a file" if existing == folder else f"lies below {existing}, which is a file"
        raise OutputError(f"{what} {folder} {where}; {fix or 'choose another path or move the file away'}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".fairbench-write-test.", dir=existing)
    except OSError as error:
        raise OutputError(f"{what} {folder}: cannot write into {existing} ({error.strerror or error}); "
                          f"{fix or 'choose a writable path'}") from None
    os.close(fd)
    os.unlink(probe)
    return folder


class StagedFiles:
    """Files that replace their namesakes in ``folder`` together, or not at all.

    Each file is first written under a hidden name beside its target (:meth:`path`; never a name a
    reader looks for). :meth:`commit` first moves the old ``last`` files aside (so that no reader
    pairs an old record with new data), removes the files of ``replaces`` that were not staged (no
    file of an earlier run stays beside the new ones), moves the staged files in and ``last`` at the
    end. Leaving the ``with`` block without a commit removes the staged files and changes nothing.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self._token = ""
        self._staged: dict[str, Path] = {}

    def __enter__(self) -> StagedFiles:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._token = os.urandom(6).hex()
        return self

    def path(self, name: str) -> Path:
        """Where to write the new ``name`` (a plain file name inside ``folder``)."""
        if not self._token:
            raise RuntimeError("StagedFiles.path() outside its with block")
        return self._staged.setdefault(name, self.folder / f".{name}.staged-{self._token}")

    def commit(self, *, replaces: tuple[str, ...] = (), last: tuple[str, ...] = ()) -> list[Path]:
        """Move every written staged file into ``folder`` (``last`` ones at the end); returns their paths."""
        written = [name for name, tmp in self._staged.items() if tmp.exists()]
        for name in last:
            if os.path.lexists(self.folder / name):
                os.replace(self.folder / name, self.folder / f".{name}.old-{self._token}")
        for name in replaces:
            if name not in written:
                (self.folder / name).unlink(missing_ok=True)
        order = [n for n in written if n not in last] + [n for n in last if n in written]
        for name in order:
            tmp = self._staged.pop(name)
            os.chmod(tmp, 0o666 & ~_UMASK)
            os.replace(tmp, self.folder / name)
        return [self.folder / name for name in order]

    def __exit__(self, *exc: object) -> None:
        for tmp in [*self._staged.values(), *self.folder.glob(f".*.old-{self._token}")]:
            tmp.unlink(missing_ok=True)
        self._staged.clear()
