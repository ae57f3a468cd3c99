"""``fairbench report`` commands: ``collect`` (run folders -> one Parquet table), ``tables`` and
``figures`` (from run folders or that table), and ``synthetic``."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from fairbench.reports.selection import SELECTION_RULES
from fairbench.reports.stats import TESTS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["register"]


#: The one-line message of an operating-system error (a full disk, a read-only folder) in a report command.
OS_ERROR_MESSAGE = "{path}: {reason}; free some space, or choose a folder you can write to and read from"


def _os_errors_in_one_line(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a report command, turning an operating-system error into one :class:`fairbench.io.OutputError`
    line that names the file (messages of fairbench's own, without an errno, pass unchanged)."""
    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        from fairbench.io import OutputError

        try:
            return command(args)
        except OSError as error:
            if error.errno is None:
                raise
            path = error.filename or "a report file"
            raise OutputError(OS_ERROR_MESSAGE.format(path=path, reason=error.strerror or error)) from None
    return run


def _add_run_inputs(p: argparse.ArgumentParser, *, collected: bool = True) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--runs", nargs="+", metavar="RUN_JSON", help="run.json files or run folders")
    source.add_argument("--root", metavar="DIR", help="folder searched recursively for run.json")
    if collected:
        source.add_argument("--collected", metavar="PARQUET", help="table written by `fairbench report collect`")
    p.add_argument("--experiment", default=None,
                   help="experiment label for every run (default: the folder above <protocol>/<setting>/<method>, "
                        "else from the hyper-parameters)")


def _add_selection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--selection", default=None, choices=SELECTION_RULES,
                   help="epoch selection for every run (default: each protocol's own rule)")


def _collect(args: argparse.Namespace) -> pd.DataFrame:
    from fairbench.reports.collect import collect_notes, collect_runs, failed_runs, read_collected

    if getattr(args, "collected", None):
        frame = read_collected(args.collected)
        if args.experiment:
            frame["experiment"] = args.experiment
    else:
        frame = collect_runs(args.runs if args.runs else args.root, experiment=args.experiment)
    failed = failed_runs(frame)
    if len(failed):
        print(f"fairbench report: excluded {len(failed)} failed or unfinished run(s):")
        for row in failed.itertuples():
            print(f"  {row.run_dir} ({row.status}: {row.error})")
    for note in collect_notes(frame):
        print(f"fairbench report: note: {note}")
    return frame


def _check_out(folder: str | Path) -> None:
    """An output folder that cannot take files is one error before the runs are read."""
    from fairbench.io import check_writable_folder

    check_writable_folder(folder, "output folder")


def _run_collect(args: argparse.Namespace) -> int:
    from fairbench.reports.collect import write_collected

    _check_out(Path(args.out).parent)
    frame = _collect(args)
    write_collected(frame, args.out)
    print(f"wrote {frame['run_dir'].nunique()} runs ({len(frame)} epoch rows) to {args.out}")
    return 0


def _run_tables(args: argparse.Namespace) -> int:
    from fairbench.reports.tables import write_tables

    _check_out(args.out)
    paths = write_tables(_collect(args), args.out, selection=args.selection, test=args.test)
    print(f"wrote {len(paths)} files to {args.out}")
    return 0


def _run_figures(args: argparse.Namespace) -> int:
    from fairbench.reports.figures import write_figures

    _check_out(args.out)
    paths = write_figures(_collect(args), args.out, selection=args.selection)
    print(f"wrote {len(paths)} files to {args.out}")
    return 0


def _run_findings(args: argparse.Namespace) -> int:
    if args.draws < 100:
        raise ValueError(f"--draws {args.draws}: use at least 100 bootstrap draws (default 2000)")
    from fairbench.reports.findings import write_findings

    for output in (args.out, args.csv, args.html):
        if output:
            _check_out(Path(output).parent)
    paths = write_findings(_collect(args), args.out, n_boot=args.draws, data_out=args.csv, html_out=args.html)
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _run_synthetic(args: argparse.Namespace) -> int:
    from fairbench.reports.synthetic import synthetic_figure

    _check_out(args.out)
    paths, _ = synthetic_figure(Path(args.out), n_starts=args.starts, steps=args.steps,
                                switch_after=args.switch_after)
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _run_wandb(args: argparse.Namespace) -> int:
    from fairbench.reports.publish import publish_report

    record = publish_report(args.tables, args.figures, args.record, mode=args.wandb_mode,
                            project=args.wandb_project, wandb_dir=args.wandb_dir)
    print(f"logged {len(record['tables'])} tables and {len(record['figures'])} figures (wandb {record['wandb_mode']})")
    return 0


def _run_compare(args: argparse.Namespace) -> int:
    from fairbench.reports.compare import compare_trees, summary_lines

    results = compare_trees(args.runs, args.against)
    for line in summary_lines(results, args.runs, args.against):
        print(line)
    allowed = {"identical", "extra"} - ({"extra"} if args.strict else set())
    return 0 if all(r.status in allowed for r in results) else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``report {collect,tables,figures,wandb,compare,synthetic}`` to the ``fairbench`` command line."""
    report = subparsers.add_parser("report", help="tables and figures from finished runs",
                                   description="Tables and figures from run folders (run.json + metrics.csv).")
    sub = report.add_subparsers(dest="report_command", required=True)
    p = sub.add_parser("collect", help="run folders -> one long Parquet table (one row per run and epoch)")
    _add_run_inputs(p, collected=False)
    p.add_argument("--out", required=True, help="output .parquet file")
    p.set_defaults(func=_os_errors_in_one_line(_run_collect))
    p = sub.add_parser("tables", help="main, alignment, comparisons, paired-tests and protocols tables "
                                      "(Markdown, LaTeX, CSV)")
    _add_run_inputs(p)
    _add_selection(p)
    p.add_argument("--out", default="results/tables", help="output folder (default: results/tables)")
    p.add_argument("--test", default="t", choices=TESTS, help="paired test: t (default) or wilcoxon")
    p.set_defaults(func=_os_errors_in_one_line(_run_tables))
    p = sub.add_parser("figures", help="learning curves, bargaining success, trade-off and ablation figures")
    _add_run_inputs(p)
    _add_selection(p)
    p.add_argument("--out", default="regenerated/figures/runs",
                   help="output folder (default: regenerated/figures/runs; the committed figures, which the "
                        "pipeline writes, are in results/figures/runs)")
    p.set_defaults(func=_os_errors_in_one_line(_run_figures))
    p = sub.add_parser("wandb", help="log the tables and figures to one wandb run")
    p.add_argument("--tables", required=True, help="folder of tables (*.csv)")
    p.add_argument("--figures", nargs="+", required=True, help="folders of figures (*.png)")
    p.add_argument("--record", required=True, help="JSON file listing what was logged")
    p.add_argument("--wandb-mode", default=None, choices=["online", "offline", "disabled"],
                   help="default: $WANDB_MODE, else offline")
    p.add_argument("--wandb-project", default=None)
    p.add_argument("--wandb-dir", default=None)
    p.set_defaults(func=_os_errors_in_one_line(_run_wandb))
    p = sub.add_parser("compare", help="compare run records with another tree of them (e.g. a rerun with "
                                       "results/runs); exit 1 unless every run is complete and identical")
    p.add_argument("runs", help="folder of run records (searched recursively for run.json and metrics.csv)")
    p.add_argument("--against", default="results/runs", help="the other folder (default: results/runs)")
    p.add_argument("--strict", action="store_true", help="also fail on runs that exist only in --against")
    p.set_defaults(func=_os_errors_in_one_line(_run_compare))
    p = sub.add_parser("findings", help="FINDINGS.md: the paper's claims against the runs, with verdicts")
    _add_run_inputs(p)
    p.add_argument("--out", default="results/FINDINGS.md", help="output page (default: results/FINDINGS.md)")
    p.add_argument("--csv", default=None, help="also write the claims' numbers to this CSV file")
    p.add_argument("--html", default=None, help="also write the page as HTML (for the Snakemake report)")
    p.add_argument("--draws", type=int, default=2000, help="bootstrap draws, at least 100 (default 2000)")
    p.set_defaults(func=_os_errors_in_one_line(_run_findings))
    p = sub.add_parser("synthetic", help="2-D toy: aggregator trajectories toward the Pareto set")
    p.add_argument("--out", default="regenerated/figures/synthetic",
                   help="output folder (default: regenerated/figures/synthetic; the committed figure is in "
                        "results/figures/synthetic)")
    p.add_argument("--starts", type=int, default=10, help="number of starting points")
    p.add_argument("--steps", type=int, default=120, help="steps per trajectory")
    p.add_argument("--switch-after", type=int, default=15, help="bargaining steps of the two-stage panel")
    p.set_defaults(func=_os_errors_in_one_line(_run_synthetic))
