"""Read run folders (``run.json`` + ``metrics.csv``, written by :mod:`fairbench.runs.execute`) into one long
table: one row per (run, epoch), with the run's configuration repeated on every row.

Runs whose status is not ``"complete"`` are never averaged: they are left out of the table and listed
in ``frame.attrs["failed_runs"]`` (records; :func:`failed_runs` gives them as a table), which the table writers report.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fairbench.data.declare import NAME
from fairbench.hparams import REFERENCE_HYPERPARAMS
from fairbench.io import write_with_atomic

__all__ = [
    "CONFIG_COLUMNS",
    "collect_runs",
    "derive_experiment",
    "collect_notes",
    "failed_runs",
    "find_run_files",
    "prefer_experiments",
    "read_collected",
    "read_metrics",
    "read_record",
    "walk_files",
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
BAD_FIELD_MESSAGE = "{path}: {field} is {value!r}, expected {expected}; the run record is damaged, retrain the run"
MIXED_PROTOCOL_MESSAGE = ("runs of the {protocol!r} protocol differ in its switch {switch!r} ({a}: {va!r}, {b}: {vb!r}); "
                          "they were made by different code and cannot be averaged; collect them separately")
UNRECORDED_SWITCH_MESSAGE = ("{n} runs of the {protocol!r} protocol predate its switch {switch!r} (others record "
                             "{value!r}, e.g. {example}): averaged with them as if they used it")
MIXED_VERSIONS_MESSAGE = "runs made by different fairbench versions are collected together ({versions}); compare them with care"
RUN_DIR_NOT_FOUND_MESSAGE = ("{path}: run folder {run_dir!r} not found, neither from here nor from {base}, where "
                             "the table was collected; run from there, or collect the runs again")
#: Largest run.json read (a record is a few kB); a larger file is refused before it is read.
MAX_RECORD_BYTES = 1 << 20
DUPLICATE_MESSAGE = ("two runs with the same configuration in experiment {experiment!r}: {a} and {b}; "
                     "remove one so that no seed counts twice")

#: Configuration columns added to every metrics row (``run_dir`` identifies the run).
CONFIG_COLUMNS: tuple[str, ...] = (
    "experiment", "protocol", "setting", "method", "seed", "bargain_epochs", "stage1_epochs",
    "val_per_cell", "epochs", "epoch_selection", "headline_auc", "fair_lambda", "run_dir",
)

#: Columns that identify one configuration up to the seed.
CONFIG_KEYS: tuple[str, ...] = ("experiment", "protocol", "setting", "method", "bargain_epochs", "val_per_cell")


def walk_files(root: Path, names: Sequence[str]) -> Iterator[Path]:
    """Entries called one of ``names`` below ``root``, following symbolic links to folders (run folders
    are often linked in from elsewhere) but entering each real folder once, so a link loop ends."""
    seen: set[tuple[int, int]] = set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        info = os.stat(folder)
        if (info.st_dev, info.st_ino) in seen:
            subfolders.clear()
            continue
        seen.add((info.st_dev, info.st_ino))
        subfolders.sort()
        for name in sorted({*files, *subfolders} & set(names)):
            yield Path(folder) / name


def find_run_files(paths_or_root: str | Path | Iterable[str | Path]) -> list[Path]:
    """``run.json`` files named by ``paths_or_root``: a root folder (searched recursively, through
    symbolic links), a run folder, a ``run.json`` path, or a list of any of these. Sorted, without repeats."""
    items = [paths_or_root] if isinstance(paths_or_root, (str, Path)) else list(paths_or_root)
    found: set[Path] = set()
    for item in items:
        path = Path(item)
        if path.is_dir():
            direct = path / RUN_FILE
            found.update([direct] if direct.is_file() else walk_files(path, [RUN_FILE]))
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


def _check_fields(run_json: Path, record: dict[str, Any]) -> None:
    """Refuse a record whose fields have the wrong type, or whose names (setting, method, protocol)
    could not safely become file names: they name folders and files of the reports."""
    def bad(field: str, value: object, expected: str) -> ValueError:
        return ValueError(BAD_FIELD_MESSAGE.format(path=run_json, field=field, value=value, expected=expected))

    config = record["config"]
    protocol = config.get("protocol", {})
    if not isinstance(protocol, dict):
        raise bad("config.protocol", protocol, "an object of protocol switches")
    names = {"config.setting": config.get("setting"), "config.method": config.get("method"),
             "config.protocol.name": protocol.get("name", "unknown")}
    for field, value in names.items():
        if not isinstance(value, str) or not NAME.fullmatch(value) or len(value) > 100:
            raise bad(field, value, "a name of letters, digits, '_', '.', '-' (not starting with '.')")
    seed = config.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise bad("config.seed", seed, "a non-negative integer")
    for key in ("epochs", "bargain_epochs", "val_per_cell"):  # a failure record may hold the bad override
        value = config.get("hparams", {}).get(key, 0)
        if record.get("status") == "complete" and (not isinstance(value, int) or isinstance(value, bool)):
            raise bad(f"config.hparams.{key}", value, "an integer")
    fair_lambda = config.get("hparams", {}).get("fair_lambda", 0.0)
    if record.get("status") == "complete" and not _is_lambda(fair_lambda):
        raise bad("config.hparams.fair_lambda", fair_lambda, "a finite number >= 0")
    for key in ("epoch_selection", "headline_auc"):
        if not isinstance(protocol.get(key, ""), str):
            raise bad(f"config.protocol.{key}", protocol[key], "a string")
    if not isinstance(record["status"], str):
        raise bad("status", record["status"], "a string such as 'complete'")
    for key in ("data", "versions"):
        if not isinstance(record.get(key, {}), dict):
            raise bad(key, record[key], "an object")


def _is_lambda(value: object) -> bool:
    """A regulariser weight: a finite real number >= 0 (not a bool)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and value >= 0)


def _integer(value: object, default: int) -> int:
    """``value`` when it is an integer (checked for complete runs; a failure record may hold a bad
    override), else ``default``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _config_row(run_json: Path, record: dict[str, Any], experiment: str | None) -> dict[str, Any]:
    config = record["config"]
    protocol, hp = config.get("protocol", {}), config.get("hparams", {})
    epochs, T = _integer(hp.get("epochs"), 0), _integer(hp.get("bargain_epochs"), 0)
    return {
        "experiment": experiment or derive_experiment(run_json, config),
        "protocol": protocol.get("name", "unknown"),
        "setting": config["setting"], "method": config["method"], "seed": int(config["seed"]),
        "bargain_epochs": T, "stage1_epochs": _stage1_epochs(protocol, T, epochs),
        "val_per_cell": _integer(hp.get("val_per_cell"), -1), "epochs": epochs,
        "epoch_selection": protocol.get("epoch_selection", "val_loss"),
        "headline_auc": protocol.get("headline_auc", "hard"),
        # every run records fair_lambda (most methods ignore it); NaN for records that predate it
        "fair_lambda": float(hp["fair_lambda"]) if _is_lambda(hp.get("fair_lambda")) else math.nan,
        "run_dir": str(run_json.parent),
    }


def read_record(run_json: Path) -> dict[str, Any]:
    """The parsed ``run.json``, its fields checked (types, and names safe as file names); a file that is
    unreadable, too large, not UTF-8 JSON or not a run record is a one-line ValueError naming it."""
    def unreadable(reason: str) -> ValueError:
        return ValueError(f"{run_json}: cannot read it as a run record ({reason}); retrain the run or delete its folder")

    if run_json.is_dir():
        raise unreadable("it is a folder, not a file")
    try:
        if run_json.stat().st_size > MAX_RECORD_BYTES:
            raise unreadable(f"{run_json.stat().st_size} bytes, a run record has at most {MAX_RECORD_BYTES}")
        record = json.loads(run_json.read_bytes().decode("utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{run_json}: invalid JSON ({error})") from None
    except UnicodeDecodeError as error:
        raise unreadable(f"not UTF-8 text: byte {error.object[error.start]:#04x} at offset {error.start}") from None
    except OSError as error:
        raise unreadable(str(error.strerror or error)) from None
    if (not isinstance(record, dict) or not isinstance(record.get("config"), dict) or "status" not in record
            or not isinstance(record["config"].get("hparams", {}), dict)):
        raise ValueError(BAD_RUN_MESSAGE.format(path=run_json))
    _check_fields(run_json, record)
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
    (:func:`read_metrics`), when no run is complete, one configuration appears twice in an experiment,
    or two runs of one protocol name differ in a protocol switch. Runs that predate a switch, or come
    from different fairbench versions, are averaged but said so in ``attrs["notes"]`` (:func:`collect_notes`).
    """
    files = find_run_files(paths_or_root)
    frames, failed, complete = [], [], {}
    for run_json in files:
        record = read_record(run_json)
        config = _config_row(run_json, record, experiment)
        if record["status"] != "complete":
            failed.append({**config, "status": record["status"], "error": record.get("error", "")})
            continue
        complete[run_json] = record
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
    notes = _check_same_protocols(complete)
    versions = _versions(complete)
    if len(versions) > 1:
        notes.append(MIXED_VERSIONS_MESSAGE.format(versions=", ".join(f"{v}: {n} runs"
                                                                      for v, n in sorted(versions.items()))))
    for note in notes:
        log.warning(note)
    frame.attrs["failed_runs"] = failed_frame.to_dict("records")
    frame.attrs["notes"] = notes
    frame.attrs["collected_from"] = str(Path.cwd())  # relative run_dirs are relative to it
    return frame


def _check_same_protocols(records: dict[Path, dict[str, Any]]) -> list[str]:
    """Runs under one protocol name must share every protocol switch: two values of one switch are two
    protocols, and averaging them would mix them (a ValueError naming both records). Records that
    predate a switch (do not record it) are said so in the notes returned."""
    first: dict[str, dict[str, tuple[Path, object]]] = {}
    unrecorded: dict[tuple[str, str], int] = {}
    for path, record in records.items():
        protocol = record["config"].get("protocol", {})
        name = protocol.get("name", "unknown")
        seen = first.setdefault(name, {})
        for switch, value in protocol.items():
            other_path, other = seen.setdefault(switch, (path, value))
            if value != other:
                raise ValueError(MIXED_PROTOCOL_MESSAGE.format(protocol=name, switch=switch, a=other_path, va=other,
                                                               b=path, vb=value))
    for record in records.values():
        protocol = record["config"].get("protocol", {})
        name = protocol.get("name", "unknown")
        for switch in first[name]:
            if switch not in protocol:
                unrecorded[name, switch] = unrecorded.get((name, switch), 0) + 1
    return [UNRECORDED_SWITCH_MESSAGE.format(n=n, protocol=name, switch=switch,
                                             value=first[name][switch][1], example=first[name][switch][0])
            for (name, switch), n in sorted(unrecorded.items())]


def _versions(records: dict[Path, dict[str, Any]]) -> dict[str, int]:
    """How many runs each fairbench version made (``versions.fairbench`` of run.json; "unrecorded")."""
    counts: dict[str, int] = {}
    for record in records.values():
        version = str(record.get("versions", {}).get("fairbench", "unrecorded"))
        counts[version] = counts.get(version, 0) + 1
    return counts


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
    if missing == ["fair_lambda"]:
        raise ValueError(f"{path}: collected before runs' fair_lambda was read (no fair_lambda column); "
                         "collect it again with `fairbench report collect`")
    if missing or "epoch" not in frame.columns:
        raise ValueError(f"{path}: not a collected runs table (missing columns {missing or ['epoch']})")
    for column in ("protocol", "setting", "method"):  # they become file names of the reports
        unsafe = [v for v in frame[column].unique() if not isinstance(v, str) or not NAME.fullmatch(v)]
        if unsafe:
            raise ValueError(f"{path}: {column} {unsafe[0]!r} is not a name of letters, digits, '_', '.', '-'; "
                             "make the table again with `fairbench report collect`")
    return _locate_run_dirs(frame, path)


def _locate_run_dirs(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Relative ``run_dir``s are relative to the folder the table was collected in: kept as they are when
    they are found from here, else made absolute from that folder; a run folder found from neither is a
    FileNotFoundError (its predictions would silently be missing from the intervals)."""
    base = Path(str(frame.attrs.get("collected_from", ".")))
    moved = {}
    for run_dir in frame["run_dir"].unique():
        here = Path(str(run_dir))
        if here.is_dir():
            continue
        there = base / here
        if here.is_absolute() or not there.is_dir():
            raise FileNotFoundError(RUN_DIR_NOT_FOUND_MESSAGE.format(path=path, run_dir=run_dir, base=base))
        moved[run_dir] = str(there)
    if moved:
        attrs = dict(frame.attrs)
        frame = frame.assign(run_dir=frame["run_dir"].map(lambda d: moved.get(d, d)))
        frame.attrs = attrs
    return frame


def failed_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """The runs excluded by :func:`collect_runs` (empty when none or when the table was built otherwise)."""
    return pd.DataFrame(frame.attrs.get("failed_runs", []), columns=[*CONFIG_COLUMNS, "status", "error"])


def collect_notes(frame: pd.DataFrame) -> list[str]:
    """What :func:`collect_runs` found worth saying about the runs it averaged together (records that
    predate a protocol switch, several fairbench versions); empty when none."""
    return [str(note) for note in frame.attrs.get("notes", [])]


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
