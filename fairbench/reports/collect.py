"""Read run folders (``run.json`` + ``metrics.csv``, written by :mod:`fairbench.runs.execute`) into one long
table: one row per (run, epoch), with the run's configuration repeated on every row.

Runs whose status is not ``"complete"`` are never averaged: they are left out of the table and listed
in ``frame.attrs["failed_runs"]`` (records; :func:`failed_runs` gives them as a table), which the table writers report.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fairbench.hparams import REFERENCE_HYPERPARAMS
from fairbench.io import write_with_atomic

__all__ = [
    "CONFIG_COLUMNS",
    "collect_runs",
    "derive_experiment",
    "failed_runs",
    "find_run_files",
    "prefer_experiments",
    "read_collected",
    "read_metrics",
    "read_record",
    "write_collected",
]

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
METRICS_FILE = "metrics.csv"
MISSING_METRICS_MESSAGE = "{path}: run is marked complete but has no metrics.csv; re-run it or delete the folder"
NO_RUNS_MESSAGE = "no run.json found in {where}"
NO_COMPLETE_RUNS_MESSAGE = "none of the {n} runs is complete (failed or unfinished: {names})"
BAD_RUN_MESSAGE = "{path}: not a run (expected run.json with a 'config' and a 'status')"
BAD_METRICS_MESSAGE = "{path}: {problem}; re-run the run or delete its folder"
DUPLICATE_MESSAGE = ("two runs with the same configuration in experiment {experiment!r}: {a} and {b}; "
                     "remove one so that no seed counts twice")

#: Configuration columns added to every metrics row (``run_dir`` identifies the run).
CONFIG_COLUMNS: tuple[str, ...] = (
    "experiment", "protocol", "setting", "method", "seed", "bargain_epochs", "stage1_epochs",
    "val_per_cell", "epochs", "epoch_selection", "headline_auc", "run_dir",
)

#: Columns that identify one configuration up to the seed.
CONFIG_KEYS: tuple[str, ...] = ("experiment", "protocol", "setting", "method", "bargain_epochs", "val_per_cell")


def find_run_files(paths_or_root: str | Path | Iterable[str | Path]) -> list[Path]:
    """``run.json`` files named by ``paths_or_root``: a root folder (searched recursively), a run
    folder, a ``run.json`` path, or a list of any of these. Sorted, without repeats."""
    items = [paths_or_root] if isinstance(paths_or_root, (str, Path)) else list(paths_or_root)
    found: set[Path] = set()
    for item in items:
        path = Path(item)
        if path.is_dir():
            direct = path / RUN_FILE
            found.update([direct] if direct.is_file() else path.rglob(RUN_FILE))
        elif path.is_file():
            found.add(path)
        else:
            raise FileNotFoundError(f"{path}: no such run.json or folder")
    if not found:
        raise FileNotFoundError(NO_RUNS_MESSAGE.format(where=", ".join(str(i) for i in items) or "[]"))
    return sorted(found)


def derive_experiment(run_json: Path, config: dict[str, Any]) -> str:
    """Experiment label of a run.

    Runs laid out as ``<experiment>/<protocol>/<setting>/<method>/...`` (the workflow's layout) take
    the folder just above their protocol, setting and method folders. Other runs are labelled
    ``"ablation_T"`` / ``"ablation_val"`` when T or the validation rows per cell differ from the
    reference values of the setting (docs/method.md §5), else ``"main"``.
    """
    parts = run_json.parent.parts
    names = [config.get("protocol", {}).get("name"), config.get("setting"), config.get("method")]
    for i in range(len(parts) - 4, -1, -1):
        if list(parts[i + 1:i + 4]) == names:
            return parts[i]
    hp, reference = config.get("hparams", {}), REFERENCE_HYPERPARAMS.get(config.get("setting", ""))
    if reference is not None:
        if hp.get("bargain_epochs", reference.bargain_epochs) != reference.bargain_epochs:
            return "ablation_T"
        if hp.get("val_per_cell", reference.val_per_cell) != reference.val_per_cell:
            return "ablation_val"
    return "main"


def _stage1_epochs(protocol: dict[str, Any], bargain_epochs: int, epochs: int) -> int:
    """Bargaining epochs for T (mirrors :meth:`fairbench.evaluation.protocols.Protocol.stage1_epochs`)."""
    n = bargain_epochs if protocol.get("bargain_through_T", False) else max(bargain_epochs - 1, 0)
    return min(n, epochs)


def _config_row(run_json: Path, record: dict[str, Any], experiment: str | None) -> dict[str, Any]:
    config = record["config"]
    protocol, hp = config.get("protocol", {}), config.get("hparams", {})
    epochs = int(hp.get("epochs", 0))
    T = int(hp.get("bargain_epochs", 0))
    return {
        "experiment": experiment or derive_experiment(run_json, config),
        "protocol": protocol.get("name", "unknown"),
        "setting": config["setting"], "method": config["method"], "seed": int(config["seed"]),
        "bargain_epochs": T, "stage1_epochs": _stage1_epochs(protocol, T, epochs),
        "val_per_cell": int(hp.get("val_per_cell", -1)), "epochs": epochs,
        "epoch_selection": protocol.get("epoch_selection", "val_loss"),
        "headline_auc": protocol.get("headline_auc", "hard"),
        "run_dir": str(run_json.parent),
    }


def read_record(run_json: Path) -> dict[str, Any]:
    """The parsed ``run.json``; a file that is unreadable or not a run record is a ValueError naming it."""
    try:
        record = json.loads(run_json.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{run_json}: invalid JSON ({error})") from None
    except (UnicodeDecodeError, OSError) as error:
        raise ValueError(f"{run_json}: cannot read it as a run record ({getattr(error, 'strerror', None) or error})"
                         ) from None
    if (not isinstance(record, dict) or not isinstance(record.get("config"), dict) or "status" not in record
            or not isinstance(record["config"].get("hparams", {}), dict)):
        raise ValueError(BAD_RUN_MESSAGE.format(path=run_json))
    return record


def recorded_epochs(record: dict[str, Any]) -> int | None:
    """Epochs a finished run trained, as its ``run.json`` says (``epochs``, else the hyper-parameter)."""
    value = record.get("epochs", record["config"].get("hparams", {}).get("epochs"))
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def read_metrics(metrics_csv: Path, record: dict[str, Any] | None = None) -> pd.DataFrame:
    """``metrics.csv`` of one run, checked: a CSV table with rows, numeric cells, epochs 1..n and, given
    the run's ``record``, as many epochs as it says. A problem is a ValueError naming the file."""
    def bad(problem: str) -> ValueError:
        return ValueError(BAD_METRICS_MESSAGE.format(path=metrics_csv, problem=problem))

    try:
        metrics = pd.read_csv(metrics_csv)
    except pd.errors.EmptyDataError:
        raise bad("the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise bad(f"not a CSV table ({(str(error).strip().splitlines() or [type(error).__name__])[0]})") from None
    except OSError as error:
        raise bad(f"cannot read it ({error.strerror or error})") from None
    if "epoch" not in metrics.columns or metrics.empty:
        raise bad("no 'epoch' column or no rows")
    for column in metrics.columns:
        if not pd.api.types.is_numeric_dtype(metrics[column]):
            values = pd.to_numeric(metrics[column], errors="coerce")
            row = int(values.isna().to_numpy().argmax() if values.isna().any() else 0)
            raise bad(f"non-numeric value {metrics[column].iloc[row]!r} in column {column!r} (row {row + 1})")
    n = len(metrics)
    if not (metrics["epoch"].to_numpy() == range(1, n + 1)).all():
        raise bad(f"the epoch column is not 1..{n}")
    expected = recorded_epochs(record) if record is not None else None
    if expected is not None and n != expected:
        raise bad(f"{n} epochs, but run.json records {expected} (truncated, or left from another run)")
    metrics["epoch"] = metrics["epoch"].astype(int)
    return metrics


def collect_runs(paths_or_root: str | Path | Sequence[str | Path], *, experiment: str | None = None) -> pd.DataFrame:
    """Long table of every complete run: one row per (run, epoch), config columns first.

    Parameters
    ----------
    paths_or_root : a root folder, run folders or ``run.json`` paths (see :func:`find_run_files`).
    experiment : label for every run; by default derived per run (:func:`derive_experiment`).

    Runs that are not complete are excluded, logged and listed in ``attrs["failed_runs"]``.
    Raises ``FileNotFoundError`` when a complete run lacks ``metrics.csv`` or nothing is found, and
    ``ValueError`` naming the file when a record or a metrics table is unreadable or the two disagree
    (:func:`read_metrics`), when no run is complete or one configuration appears twice in an experiment.
    """
    files = find_run_files(paths_or_root)
    frames, failed = [], []
    for run_json in files:
        record = read_record(run_json)
        config = _config_row(run_json, record, experiment)
        if record["status"] != "complete":
            failed.append({**config, "status": record["status"], "error": record.get("error", "")})
            continue
        metrics_csv = run_json.parent / METRICS_FILE
        if not metrics_csv.is_file():
            raise FileNotFoundError(MISSING_METRICS_MESSAGE.format(path=run_json.parent))
        metrics = read_metrics(metrics_csv, record)
        frames.append(pd.DataFrame({k: [v] * len(metrics) for k, v in config.items()}).join(metrics))
    failed_frame = pd.DataFrame(failed, columns=[*CONFIG_COLUMNS, "status", "error"])
    for row in failed:
        log.warning("excluded %s run %s (%s %s %s seed %s): %s", row["status"], row["run_dir"],
                    row["protocol"], row["setting"], row["method"], row["seed"], row["error"])
    if not frames:
        names = ", ".join(failed_frame["run_dir"])
        raise ValueError(NO_COMPLETE_RUNS_MESSAGE.format(n=len(files), names=names))
    frame = pd.concat(frames, ignore_index=True)
    _check_duplicates(frame)
    frame.attrs["failed_runs"] = failed_frame.to_dict("records")
    return frame


def _check_duplicates(frame: pd.DataFrame) -> None:
    runs = frame.drop_duplicates("run_dir")
    dup = runs[runs.duplicated([*CONFIG_KEYS, "seed"], keep=False)]
    if not dup.empty:
        first = dup.iloc[0]
        same = dup[(dup[[*CONFIG_KEYS, "seed"]] == first[[*CONFIG_KEYS, "seed"]]).all(axis=1)]
        raise ValueError(DUPLICATE_MESSAGE.format(experiment=first["experiment"], a=same["run_dir"].iloc[0],
                                                  b=same["run_dir"].iloc[1]))


def write_collected(frame: pd.DataFrame, path: str | Path) -> Path:
    """Save :func:`collect_runs`'s table as Parquet (atomically); the failed-run list travels in its
    metadata (``attrs``), so :func:`read_collected` gives back the same table."""
    path = Path(path)
    if path.suffix != ".parquet":
        raise ValueError(f"{path}: the collected table is written as Parquet; use a .parquet name")
    write_with_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))
    return path


def read_collected(path: str | Path) -> pd.DataFrame:
    """Load a table written by :func:`write_collected`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no collected runs table (make it with `fairbench report collect`)")
    try:
        frame = pd.read_parquet(path)
    except Exception as error:  # pyarrow raises its own types (ArrowInvalid, ...) for a damaged file
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(f"{path}: not a readable Parquet table ({reason}); make it again with "
                         "`fairbench report collect`") from None
    missing = [c for c in CONFIG_COLUMNS if c not in frame.columns]
    if missing or "epoch" not in frame.columns:
        raise ValueError(f"{path}: not a collected runs table (missing columns {missing or ['epoch']})")
    return frame


def failed_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """The runs excluded by :func:`collect_runs` (empty when none or when the table was built otherwise)."""
    return pd.DataFrame(frame.attrs.get("failed_runs", []), columns=[*CONFIG_COLUMNS, "status", "error"])


def prefer_experiments(frame: pd.DataFrame, order: Sequence[str]) -> pd.DataFrame:
    """Rows of the experiments in ``order``; when one configuration (protocol, setting, method, T,
    validation rows, seed) was run in several of them, keep the run of the earliest in ``order``."""
    keys = ["protocol", "setting", "method", "bargain_epochs", "val_per_cell", "seed"]
    sub = frame[frame["experiment"].isin(list(order))]
    rank = sub["experiment"].map({name: i for i, name in enumerate(order)})
    runs = sub[["run_dir", *keys]].assign(_rank=rank).drop_duplicates("run_dir").sort_values("_rank", kind="stable")
    keep = set(runs.drop_duplicates(keys, keep="first")["run_dir"])
    out = sub[sub["run_dir"].isin(keep)].copy()
    out.attrs = dict(frame.attrs)
    return out
