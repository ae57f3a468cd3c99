"""Run records as the pipeline sees them: which configured runs already have a record, the failure
record of a run whose training command failed, and the end-of-pipeline check.

A training job of the pipeline (a chunk of a configuration's seeds: ``fairbench.pipeline.chunks``) ends
with a ``run.json`` for each of its seeds (``fairbench.runs.execute`` writes it as the seed finishes,
with status ``failed`` on an error; :func:`finish_chunk` writes one for a seed left without), so one
failed run never deletes another's record nor stops the tables and figures of the others; a job that
was killed (:func:`killing_signal`) leaves its unfinished seeds without a record, for the next
invocation to train. The last rule (:func:`check`) lists the failed runs with their errors and exits
non-zero.

``python -m fairbench.pipeline.plan finish-chunk|note-lacking|check ...`` is called by ``workflow/rules/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import shlex
import signal
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fairbench.hparams import parse_override
from fairbench.io import write_json_atomic, write_text_atomic
from fairbench.pipeline.config import TrainJob, job_hyperparams

RUN_FILE = "run.json"
METRICS_FILE = "metrics.csv"


def read_record(run_json: Path) -> dict[str, Any] | None:
    """The run record, or None when the file is missing or not a JSON object."""
    try:
        record = json.loads(run_json.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def run_status(run_json: Path) -> str:
    """``missing``, ``unreadable`` or the record's ``status`` (``complete``, ``failed``, ``running``)."""
    if not run_json.is_file():
        return "missing"
    record = read_record(run_json)
    return str(record.get("status", "unreadable")) if record is not None else "unreadable"


def differing_hparams(record: dict[str, Any], expected: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Hyper-parameters whose recorded value differs from the configuration's: name -> (recorded,
    expected). Fields that the record lacks (added later) and ``threads`` (no effect on the numbers)
    are not compared."""
    recorded = (record.get("config") or {}).get("hparams") or {}
    return {k: (recorded[k], v) for k, v in expected.items()
            if k != "threads" and k in recorded and recorded[k] != v}


@dataclass
class Plan:
    """What a configuration asks for and what ``<results_dir>/runs`` already holds."""

    runs: int = 0
    jobs: int = 0
    by_status: dict[str, list[str]] = field(default_factory=dict)
    #: finished runs trained with other hyper-parameters than the configuration asks for: folder -> differences
    stale: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return len(self.by_status.get(status, []))

    def statuses(self) -> dict[str, str]:
        """Every configured run's folder -> its status."""
        return {folder: status for status, folders in self.by_status.items() for folder in folders}

    def folders(self) -> list[str]:
        """Every configured run's folder."""
        return [folder for folders in self.by_status.values() for folder in folders]


def survey(jobs: Iterable[TrainJob], runs_dir: str | Path, config: dict[str, Any] | None = None) -> Plan:
    """Status of every configured run under ``runs_dir`` (one ``run.json`` read per existing run); with
    ``config``, also the finished runs whose hyper-parameters differ from what it asks for."""
    plan = Plan()
    for job in jobs:
        plan.jobs += 1
        expected = job_hyperparams(job, config).to_dict() if config is not None else None
        for seed in job.seeds:
            folder = Path(runs_dir) / job.run_folder(seed)
            plan.runs += 1
            record = read_record(folder / RUN_FILE) if (folder / RUN_FILE).is_file() else None
            status = "missing" if not (folder / RUN_FILE).is_file() else (
                str(record.get("status", "unreadable")) if record is not None else "unreadable")
            plan.by_status.setdefault(status, []).append(str(folder))
            if record is not None and expected is not None and status == "complete":
                differences = differing_hparams(record, expected)
                if differences:
                    plan.stale[str(folder)] = differences
    return plan


def stale_message(plan: Plan, results_dir: str) -> str:
    """Why the workflow refuses to mix runs of another configuration into the tables, and the fix."""
    folder, differences = next(iter(plan.stale.items()))
    what = ", ".join(f"{k} {old!r} (configuration: {new!r})" for k, (old, new) in differences.items())
    return (f"{len(plan.stale):,} finished runs in {results_dir}/runs were trained with other hyper-parameters "
            f"than this configuration asks for (e.g. {folder}: {what}); train into a fresh folder "
            f"(--config results_dir=<new folder>) or delete those runs")


def start_message(plan: Plan, results_dir: str, configfiles: Sequence[str]) -> str:
    """What the pipeline found and what it will train (printed when the workflow is loaded)."""
    source = ", ".join(str(c) for c in configfiles) or "the command line"
    kept = plan.count("complete")
    failed = plan.by_status.get("failed", [])
    train = plan.runs - kept - len(failed)
    lines = [f"fairbench: {source}: {plan.runs:,} runs ({plan.jobs:,} configurations x their seeds) "
             f"in {results_dir}/runs",
             f"  already there: {kept:,} complete (kept, not trained again), {len(failed):,} failed (kept as "
             "records; delete a failed run's folder to train it again)",
             f"  to train now: {train:,} runs without a finished record",
             f"  tables: {results_dir}/tables, figures: {results_dir}/figures (rebuilt from all the runs at the end)",
             f"  to train every run again into a fresh folder: {rerun_command(configfiles)}"]
    return "\n".join(lines)


def rerun_command(configfiles: Sequence[str], default: str = "config/config.yaml") -> str:
    """The command that trains this configuration again into ``rerun/`` (names a config file other than
    the default, which then replaces it)."""
    others = [str(c) for c in configfiles if not str(c).endswith(default)]
    files = "".join(f" --configfile {c}" for c in others)
    replace = " --replace-workflow-config" if others and len(others) == len(configfiles) else ""
    return f"snakemake --cores all{files}{replace} --config results_dir=rerun"


def trained_since(plan_runs: Iterable[str], since: float) -> int:
    """Number of runs whose record was written after ``since`` (a POSIX time)."""
    count = 0
    for folder in plan_runs:
        run_json = Path(folder) / RUN_FILE
        if run_json.is_file() and run_json.stat().st_mtime >= since:
            count += 1
    return count


def end_message(plan: Plan, results_dir: str, trained: int, ok: bool, configfiles: Sequence[str] = ()) -> str:
    """What this invocation did and where to look (printed when the workflow ends); the report command
    names the configuration files of this invocation."""
    head = "finished" if ok else "stopped with errors (see above)"
    return "\n".join([
        f"fairbench: {head}; {trained:,} runs trained by this invocation, {plan.runs:,} runs in the configuration",
        f"  tables: {results_dir}/tables (index.md lists them, failed_runs.csv the failed runs), "
        f"figures: {results_dir}/figures",
        f"  HTML report: {report_command(configfiles)}",
    ])


def report_command(configfiles: Sequence[str], default: str = "config/config.yaml") -> str:
    """``snakemake --report report.html`` with the configuration files of this invocation."""
    others = [str(c) for c in configfiles if not str(c).endswith(default)]
    files = "".join(f" --configfile {shlex.quote(c)}" for c in others)
    replace = " --replace-workflow-config" if others and len(others) == len(configfiles) else ""
    return f"snakemake --report report.html{files}{replace}"


class _MissingMetadataOnce(logging.Filter):
    """Pass the first "Missing metadata for file ..." warning of Snakemake, reworded; drop the others."""

    said = False

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Missing metadata for file"):
            return True
        if self.said:
            return False
        self.said = True
        record.msg = ("Some result files have no Snakemake metadata (runs committed with the repository or copied "
                      "from elsewhere): the report lists them without job times. (Said once.)")
        record.args = ()
        return True


def say_missing_metadata_once() -> None:
    """``snakemake --report`` warns once per file without Snakemake metadata (every committed run, so
    thousands of lines); keep one reworded line."""
    logger = logging.getLogger("snakemake.logging")
    if not any(isinstance(f, _MissingMetadataOnce) for f in logger.filters):
        logger.addFilter(_MissingMetadataOnce())


# ---------------------------------------------------------------------------------------------------
# Failure records

def _last_line(log: Path | None) -> str:
    if log is None or not log.is_file():
        return ""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def killing_signal(exit_status: int) -> signal.Signals | None:
    """The signal that ended a command whose shell exit status is ``exit_status`` (128 + the signal's
    number: 143 is SIGTERM, 137 SIGKILL, which is also what an out-of-memory kill sends), else None."""
    if exit_status <= 128:
        return None
    try:
        return signal.Signals(exit_status - 128)
    except ValueError:
        return None


def record_failure(run_dir: str | Path, *, setting: str, method: str, seed: int, protocol: str,
                   overrides: dict[str, Any], exit_status: int, log: str | Path | None = None) -> Path:
    """Make sure a run whose training command exited with ``exit_status`` has a record.

    A record that the training command wrote itself is kept: a complete run (another seed of the same
    job may have failed after it) and a failure record with its error (e.g. a NaN loss). Otherwise
    ``run.json`` gets status ``failed``, the error (the last line of the job's log: the one-line error
    of ``fairbench train`` or a traceback's last line) and the run's configuration, and the files an
    unfinished earlier attempt left beside it (:data:`fairbench.runs.execute.RUN_OUTPUTS`) are removed.
    A complete run is never touched.
    """
    from fairbench.runs.execute import RUN_OUTPUTS

    out = Path(run_dir)
    run_json = out / RUN_FILE
    if run_status(run_json) in ("complete", "failed"):
        return run_json
    out.mkdir(parents=True, exist_ok=True)
    for name in RUN_OUTPUTS:
        (out / name).unlink(missing_ok=True)
    error = _last_line(Path(log) if log else None) or "no error message"
    config: dict[str, Any] = {"setting": setting, "method": method, "seed": seed,
                              "protocol": {"name": protocol}, "hparams": dict(overrides)}
    try:
        from fairbench.runs.execute import RunSpec

        config = RunSpec.resolve(setting, method, seed, protocol, overrides).to_dict()
    except (ValueError, KeyError, TypeError):
        pass
    record = {"config": config, "status": "failed", "error": f"{error} (exit status {exit_status})",
              "log": str(log) if log else None,
              "failed_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    write_json_atomic(run_json, record)
    return run_json


KILLED_MESSAGE = ("the training command was killed by {signal} (exit status {status}{why}); the runs it "
                  "finished are kept, the others ({missing}) get no failure record and the next invocation "
                  "trains them again")


def finish_chunk(out_template: str, seeds: Sequence[int], *, marker: str | Path, setting: str, method: str,
                 protocol: str, overrides: dict[str, Any], exit_status: int, log: str | Path | None = None) -> int:
    """End of one training job (a chunk of seeds of one configuration, ``fairbench.pipeline.chunks``).

    After a normal exit, every seed without a record gets a failure record (:func:`record_failure`) and
    the chunk's ``marker`` lists each seed's status; returns 0, so that a failed seed costs the others
    nothing (the last rule reports it). After a kill (SIGTERM, an out-of-memory SIGKILL, ...) the
    signal is named, no failure record is written and no marker: returns 1, so that Snakemake marks
    the job failed and the next invocation trains the seeds that have no record.
    """
    folders = {int(seed): Path(out_template.replace("{seed}", str(seed))) for seed in seeds}
    killer = killing_signal(exit_status)
    if killer is not None:
        missing = [seed for seed, folder in folders.items()
                   if run_status(folder / RUN_FILE) not in ("complete", "failed")]
        why = "; an out-of-memory kill looks like this" if killer == signal.SIGKILL else ""
        print("fairbench: " + KILLED_MESSAGE.format(signal=killer.name, status=exit_status, why=why,
                                                     missing=", ".join(f"seed {s}" for s in missing) or "none"))
        return 1
    statuses = {}
    for seed, folder in folders.items():
        record_failure(folder, setting=setting, method=method, seed=seed, protocol=protocol,
                       overrides=overrides, exit_status=exit_status, log=log)
        statuses[str(seed)] = run_status(folder / RUN_FILE)
    write_json_atomic(Path(marker), {"seeds": statuses, "exit_status": exit_status,
                                     "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
    return 0


# ---------------------------------------------------------------------------------------------------
# Report steps that have nothing to show

#: The exit status of a ``fairbench`` command that stopped with a one-line error about its input
#: (``fairbench.cli``); a traceback exits 1.
INPUT_ERROR_STATUS = 2
NOT_BUILT = "Not built from these runs: {reason}"


def note_lacking_outputs(exit_status: int, log: str | Path, *, folders: Sequence[str | Path] = (),
                         markdown: Sequence[str | Path] = (), html: Sequence[str | Path] = (),
                         csv: Sequence[str | Path] = ()) -> int:
    """A report step whose command refused its input (exit status :data:`INPUT_ERROR_STATUS`, e.g. the
    runs of an experiment of one's own support none of the paper's figures) writes its outputs as a
    note that says what the runs lack, so that the pipeline goes on to the other pages; returns 0. Any
    other failure (a bug: a traceback) is passed on as the step's exit status."""
    if exit_status != INPUT_ERROR_STATUS:
        return exit_status
    line = _last_line(Path(log))
    reason = line.split("error: ", 1)[1] if "error: " in line else line or "no error message"
    note = NOT_BUILT.format(reason=reason)
    print(f"fairbench: {note}")
    for folder in folders:
        Path(folder).mkdir(parents=True, exist_ok=True)
        write_text_atomic(Path(folder) / "NOT_BUILT.md", note + "\n")
    for page in markdown:
        write_text_atomic(Path(page), f"# {Path(page).stem.title()}\n\n{note}\n")
    for page in html:
        import html as html_lib

        write_text_atomic(Path(page), f"<!DOCTYPE html><html><body><p>{html_lib.escape(note)}</p></body></html>\n")
    for table in csv:
        write_text_atomic(Path(table), "")
    return 0


# ---------------------------------------------------------------------------------------------------
# The end-of-pipeline check

def failed_run_lines(failed_csv: Path) -> list[str]:
    """One line per failed run of ``failed_runs.csv`` (written by ``fairbench report tables``)."""
    import pandas as pd

    if not failed_csv.is_file() or failed_csv.stat().st_size == 0:
        return []
    try:
        frame = pd.read_csv(failed_csv)
    except pd.errors.EmptyDataError:
        return []
    return [f"  {row.run_dir}: {row.status}: {row.error}" for row in frame.itertuples()]


def check(tables_dir: str | Path, out: str | Path) -> int:
    """Exit status of the whole pipeline: 0 when no run failed, else 1 after listing the failed runs."""
    tables = Path(tables_dir)
    lines = failed_run_lines(tables / "failed_runs.csv")
    if not lines:
        write_text_atomic(Path(out), f"all runs complete; tables in {tables}\n")
        print(f"fairbench: every run is complete; tables in {tables}")
        return 0
    folders = [line.split(": ", 1)[0].strip() for line in lines]
    print(f"fairbench: {len(lines)} run(s) failed; the tables and figures were built from the runs that finished "
          f"(failed runs are listed in {tables / 'failed_runs.csv'}):")
    print("\n".join(lines))
    print("Fix the cause, delete the failed run folders and run snakemake again (only they are trained), e.g.\n"
          f"  rm -r {' '.join(shlex.quote(f) for f in folders[:3])}{' ...' if len(folders) > 3 else ''}")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """``finish-chunk``, ``note-lacking`` and ``check`` for the pipeline's rules."""
    parser = argparse.ArgumentParser(prog="python -m fairbench.pipeline.plan", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("finish-chunk", help="end of a training job: failure records, the chunk's marker")
    p.add_argument("--out", required=True, help="the run folders, with {seed}")
    p.add_argument("--seeds", required=True, help="the chunk's seeds, comma-separated")
    p.add_argument("--marker", required=True, help="the chunk's marker file")
    p.add_argument("--exit-status", type=int, required=True)
    p.add_argument("--log", default=None)
    p.add_argument("--setting", required=True)
    p.add_argument("--method", required=True)
    p.add_argument("--protocol", required=True)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p = sub.add_parser("note-lacking", help="a report step's outputs as a note when its runs lack what it needs")
    p.add_argument("--exit-status", type=int, required=True)
    p.add_argument("--log", required=True)
    for kind in ("folder", "markdown", "html", "csv"):
        p.add_argument(f"--{kind}", action="append", default=[])
    p = sub.add_parser("check", help="exit 1 when any run failed, listing them")
    p.add_argument("--tables", required=True, help="folder written by `fairbench report tables`")
    p.add_argument("--out", required=True, help="status file written when every run is complete")
    args = parser.parse_args(argv)
    if args.command == "check":
        return check(args.tables, args.out)
    if args.command == "note-lacking":
        return note_lacking_outputs(args.exit_status, args.log, folders=args.folder, markdown=args.markdown,
                                    html=args.html, csv=args.csv)
    overrides = dict(parse_override(text) for text in args.set)
    return finish_chunk(args.out, [int(s) for s in args.seeds.split(",")], marker=args.marker, setting=args.setting,
                        method=args.method, protocol=args.protocol, overrides=overrides,
                        exit_status=args.exit_status, log=args.log)

if __name__ == "__main__":
    sys.exit(main())
