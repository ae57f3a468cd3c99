"""Experiment tracking with Weights & Biases. The local run files stay the source of truth; wandb
mirrors them. The mode is always explicit so that nothing waits for a login or the network:
``offline`` by default, ``online`` after ``wandb login``, ``disabled`` in tests."""

from __future__ import annotations

import netrc
import os
import socket
import urllib.parse
from pathlib import Path
from types import TracebackType
from typing import Any

WANDB_MODES = ("online", "offline", "disabled")
DEFAULT_PROJECT = "fairbench"
DEFAULT_HOST = "https://api.wandb.ai"
ONLINE_WITHOUT_KEY = ("wandb mode 'online' needs an API key and none was found (no WANDB_API_KEY, no {host} "
                      "entry in {netrc_file}): run `wandb login` or set WANDB_API_KEY, or use --wandb-mode "
                      "offline (and `wandb sync` the run later)")
ONLINE_UNREACHABLE = ("wandb mode 'online' but the wandb server does not answer ({reason}); use --wandb-mode "
                      "offline (and `wandb sync` the run later) or check the network and WANDB_BASE_URL")
#: Seconds to wait for the wandb server before an online run is refused.
PROBE_SECONDS = 5.0
INIT_FAILED = ("wandb could not start the {mode} run ({reason}); check the network and your login, or use "
               "--wandb-mode offline or disabled")


class TrackingError(Exception):
    """wandb could not start a run (e.g. the server is unreachable)."""


def resolve_wandb_mode(explicit: str | None = None) -> str:
    """``explicit`` (config or CLI), else ``$WANDB_MODE``, else ``offline``; anything else is an error."""
    mode = explicit or os.environ.get("WANDB_MODE") or "offline"
    if mode not in WANDB_MODES:
        raise ValueError(f"unknown wandb mode {mode!r}; use one of {', '.join(WANDB_MODES)} "
                         "(set it with --wandb-mode or WANDB_MODE)")
    return mode


def _netrc_file() -> Path:
    return Path(os.environ.get("NETRC") or Path.home() / ".netrc").expanduser()


def wandb_key_available() -> bool:
    """Whether wandb would find an API key: ``$WANDB_API_KEY``, or a password for the server's host
    (``$WANDB_BASE_URL``, default api.wandb.ai) in the netrc file that ``wandb login`` writes."""
    if os.environ.get("WANDB_API_KEY", "").strip():
        return True
    host = urllib.parse.urlsplit(os.environ.get("WANDB_BASE_URL") or DEFAULT_HOST).hostname or ""
    try:
        entry = netrc.netrc(str(_netrc_file())).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return False
    return bool(entry and entry[2])


def _server() -> tuple[str, int]:
    parts = urllib.parse.urlsplit(os.environ.get("WANDB_BASE_URL") or DEFAULT_HOST)
    return parts.hostname or "", parts.port or (80 if parts.scheme == "http" else 443)


def server_unreachable(timeout: float = PROBE_SECONDS) -> str | None:
    """Why the wandb server cannot be reached (one TCP connection, at most ``timeout`` seconds), or
    None when it answers or a proxy is configured (the proxy, not this machine, reaches it)."""
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")):
        return None
    host, port = _server()
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as error:
        return f"{host}:{port}: {error.strerror or error}"
    return None


def check_wandb_mode(explicit: str | None = None) -> str:
    """:func:`resolve_wandb_mode`, and for ``online`` an API key at hand (checked without the network)
    and a server that answers within :data:`PROBE_SECONDS` (instead of wandb's 90 s wait); otherwise
    a ValueError that says what to do, before any work."""
    mode = resolve_wandb_mode(explicit)
    if mode == "online":
        if not wandb_key_available():
            raise ValueError(ONLINE_WITHOUT_KEY.format(host=_server()[0], netrc_file=_netrc_file()))
        reason = server_unreachable()
        if reason is not None:
            raise ValueError(ONLINE_UNREACHABLE.format(reason=reason))
    return mode


class Tracker:
    """One wandb run (``mode="disabled"`` never imports wandb). Use as a context manager."""

    def __init__(self, *, name: str, group: str, job_type: str, tags: list[str], config: dict[str, Any],
                 mode: str | None = None, project: str | None = None, directory: str | Path | None = None) -> None:
        self.mode = check_wandb_mode(mode)
        self._run: Any = None
        self._init = dict(project=project or os.environ.get("WANDB_PROJECT", DEFAULT_PROJECT), name=name,
                          group=group, job_type=job_type, tags=tags, config=config)
        self._dir = Path(directory) if directory is not None else None

    def __enter__(self) -> Tracker:
        if self.mode != "disabled":
            os.environ.setdefault("WANDB_SILENT", "true")
            import wandb

            kwargs: dict[str, Any] = dict(self._init, mode=self.mode, reinit="finish_previous")
            if self._dir is not None:
                self._dir.mkdir(parents=True, exist_ok=True)
                kwargs["dir"] = str(self._dir)
            try:
                self._run = wandb.init(**kwargs)
            except Exception as error:  # wandb raises its own types (CommError, UsageError, timeouts)
                reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise TrackingError(INIT_FAILED.format(mode=self.mode, reason=reason)) from None
        return self

    def log(self, row: dict[str, Any], step: int | None = None) -> None:
        """Log one row (e.g. one epoch's metrics)."""
        if self._run is not None:
            self._run.log(row, step=step)

    def summary(self, values: dict[str, Any]) -> None:
        """Set run-level summary values."""
        if self._run is not None:
            self._run.summary.update(values)

    def log_files(self, images: dict[str, Path] | None = None, tables: dict[str, Any] | None = None) -> None:
        """Log images (PNG paths) and tables (pandas DataFrames) to the run."""
        if self._run is None:
            return
        import wandb

        payload: dict[str, Any] = {}
        for key, path in (images or {}).items():
            payload[key] = wandb.Image(str(path))
        for key, frame in (tables or {}).items():
            payload[key] = wandb.Table(dataframe=frame)
        if payload:
            self._run.log(payload)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._run is not None:
            self._run.finish(exit_code=0 if exc_type is None else 1)
            self._run = None
