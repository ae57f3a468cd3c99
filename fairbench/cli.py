"""``fairbench`` command line: ``data`` (list / fetch / prepare), ``train``, ``methods``, ``bench``,
``report``. Errors print one line naming the problem and exit with status 2 (1 for a failed run)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from fairbench.data.errors import DataError
from fairbench.hparams import HyperParams, parse_override
from fairbench.models import MODEL_NAMES
from fairbench.io import OutputError
from fairbench.runs.tracking import TrackingError, check_wandb_mode


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one (setting, method, seed, protocol) run",
                       description="Train one run; writes OUT/metrics.csv and OUT/run.json atomically.")
    p.add_argument("--setting", required=True, help="e.g. adult-sex (see `fairbench data list`)")
    p.add_argument("--method", required=True, help="e.g. nbs_ltr (see `fairbench methods`)")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=None, help="one seed (default 0)")
    seeds.add_argument("--seeds", default=None, metavar="S1,S2,...",
                       help="several seeds in one process; --out must then contain {seed}")
    p.add_argument("--protocol", default="paper", choices=["paper", "standard"])
    p.add_argument("--out", required=True, help="run folder (may contain {seed})")
    p.add_argument("--prepared", default=None, help="folder of prepared datasets (from `fairbench data prepare`)")
    p.add_argument("--force", action="store_true", help="overwrite a finished run")
    p.add_argument("--wandb-mode", default=None, choices=["online", "offline", "disabled"],
                   help="default: $WANDB_MODE, else offline")
    p.add_argument("--wandb-dir", default=None,
                   help="folder below which wandb keeps its files (DIR/wandb/offline-run-*; default: the run folder)")
    p.add_argument("--wandb-name", default=None, metavar="NAME",
                   help="wandb run name, may contain {seed} (default: PROTOCOL/SETTING/METHOD/seedN)")
    p.add_argument("--wandb-group", default=None, metavar="GROUP",
                   help="wandb group: the seeds of one configuration (default: PROTOCOL/SETTING/METHOD)")
    p.add_argument("--keep-going", action="store_true",
                   help="with --seeds: a seed that fails gets a failure record (run.json, status failed) and "
                        "the next seed trains; exit status 1 at the end when any failed")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar (one summary line per run)")
    p.add_argument("--device", default="cpu", metavar="cpu|cuda|auto",
                   help="where to train: cpu (default), cuda (or cuda:N; an error without a GPU) or auto "
                        "(cuda when present); README 'Run on a GPU'")
    hp = p.add_argument_group("hyper-parameter overrides (default: the reference's per-setting values)")
    for f in fields(HyperParams):
        kind = {"float": float, "int": int, "str": str}[str(f.type)]
        hp.add_argument(f"--{f.name.replace('_', '-')}", dest=f"hp_{f.name}", type=kind, default=None,
                        help=f"model by name: {'|'.join(MODEL_NAMES)} (default: the setting's; mlp for "
                             "tabular settings)" if f.name == "model" else None)
    hp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any hyper-parameter")
    p.set_defaults(func=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    """Check everything that can be checked (hyper-parameters, protocol options, output folders, wandb
    login) before the first run trains; then train the seeds one after the other in this process, each
    seed's record written as it finishes (``--keep-going``: a failed seed does not stop the others)."""
    from fairbench.training.device import resolve_device
    from fairbench.runs.execute import RunSpec, check_out_dir, execute, record_failed_run, summary_line
    from fairbench.training.step import NonFiniteLossError

    device = resolve_device(args.device)
    overrides: dict[str, Any] = dict(parse_override(text) for text in args.set)
    overrides.update({f.name: getattr(args, f"hp_{f.name}") for f in fields(HyperParams)
                      if getattr(args, f"hp_{f.name}") is not None})
    seeds = _parse_seeds(args.seeds) if args.seeds is not None else [0 if args.seed is None else args.seed]
    if any(seed < 0 for seed in seeds):
        raise ValueError(f"seed {min(seeds)}: seeds are integers >= 0 (e.g. --seed 0 or --seeds 0,1,2)")
    if len(seeds) > 1 and "{seed}" not in args.out:
        raise ValueError(f"--out {args.out!r} must contain {{seed}} when several seeds are given")
    specs = [RunSpec.resolve(args.setting, args.method, seed, args.protocol, overrides) for seed in seeds]
    outs = [args.out.replace("{seed}", str(spec.seed)) for spec in specs]
    for out in outs:
        check_out_dir(out, force=args.force)
    check_wandb_mode(args.wandb_mode)
    failed = 0
    for spec, out in zip(specs, outs):
        try:
            execute(spec, out, prepared_dir=args.prepared, force=args.force,
                    wandb_mode=args.wandb_mode, wandb_dir=args.wandb_dir, progress=not args.no_progress,
                    device=device, wandb_name=_per_seed(args.wandb_name, spec.seed),
                    wandb_group=args.wandb_group)
        except NonFiniteLossError as error:
            print(f"fairbench train: run failed: {error}", file=sys.stderr)
            if not args.keep_going:
                return 1
            failed += 1
            continue
        except Exception as error:  # --keep-going: this seed's error in its own record, the others go on
            if not args.keep_going:
                raise
            record_failed_run(spec, out, error)
            print(f"fairbench train: run failed: {out}: {type(error).__name__}: {error}", file=sys.stderr)
            failed += 1
            continue
        print(summary_line(out), flush=True)
    return 1 if failed else 0


def _per_seed(template: str | None, seed: int) -> str | None:
    return None if template is None else template.replace("{seed}", str(seed))


def _parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--seeds {text!r}: expected comma-separated integers, e.g. 0,1,2") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {text!r}: expected distinct comma-separated integers, e.g. 0,1,2")
    return seeds


def _add_methods(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("methods", help="list the valid method names")
    p.set_defaults(func=_run_methods)


def _run_methods(args: argparse.Namespace) -> int:
    from fairbench.registry import PAPER_METHODS, available_methods

    for name in available_methods():
        print(f"{name}{'  (paper)' if name in PAPER_METHODS else ''}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The full ``fairbench`` argument parser."""
    parser = argparse.ArgumentParser(prog="fairbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    from fairbench.data import cli as data_cli
    from fairbench.perf import bench, scale
    from fairbench.reports import cli as report_cli

    data_cli.register(sub)
    _add_train(sub)
    _add_methods(sub)
    bench.register(sub)
    scale.register(sub)
    report_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fairbench`` console script."""
    args = build_parser().parse_args(argv)
    try:
        if isinstance(getattr(args, "out", None), str) and not args.out.strip():
            raise ValueError("--out is empty; name the output path (e.g. --out runs/demo)")
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, KeyError, DataError, OutputError,
            TrackingError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"fairbench {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
