"""``fairbench`` command line: ``data`` (list / fetch / prepare), ``train``, ``methods``, ``bench``,
``scale``, ``report``. Errors print one line naming the problem and exit with status 2 (1 for a failed run).

Only the command that runs is built: ``fairbench --help`` and a command's ``--help`` import neither torch
nor the data layer unless that command needs them to describe itself."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
from collections.abc import Collection, Sequence
from dataclasses import fields
from typing import Any

from fairbench.hparams import HyperParams, parse_override
from fairbench.io import OutputError
from fairbench.models import MODEL_NAMES
from fairbench.runs.tracking import TrackingError, check_wandb_mode

#: command -> (its line in ``fairbench --help``, the module whose ``register`` adds it).
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("list, fetch and prepare the benchmark datasets", "fairbench.data.cli"),
    "train": ("train one (setting, method, seed, protocol) run", "fairbench.cli"),
    "methods": ("list the valid method names", "fairbench.cli"),
    "bench": ("time training steps (ratios to ERM)", "fairbench.perf.bench_cli"),
    "scale": ("training cost against the number of rows (subsamples of one setting)", "fairbench.perf.scale"),
    "report": ("tables and figures from finished runs", "fairbench.reports.cli"),
}

#: What each hyper-parameter does (``fairbench train --help``; docs/method.md §5).
HP_HELP: dict[str, str] = {
    "lr": "learning rate of SGD",
    "dropout": "dropout probability of the classifier",
    "batch_size": "training rows per batch",
    "epochs": "training epochs",
    "bargain_epochs": "T: epochs of Nash bargaining (stage 1) before the objective alone (stage 2)",
    "val_per_cell": "validation rows per (group, label) cell when a split is drawn anew",
    "momentum": "SGD momentum",
    "weight_decay": "SGD weight decay (L2)",
    "dro_fraction": "DRO: the fraction of hardest rows whose loss is averaged (CVaR level)",
    "group_dro_step_size": "Group DRO: step size of the group weights",
    "cagrad_c": "CAGrad: radius c of the conflict-averse step",
    "weight_norm": "normalisation of the meta sample weights: l2 or sum",
    "hypergradient_backend": "how per-cell hypergradients are computed (factorised = the MLP's fast path)",
    "threads": "torch CPU threads of the run",
    "model": f"classifier by name: {'|'.join(MODEL_NAMES)} (mlp for tabular settings)",
    "fair_lambda": "weight lambda of the gap regularisers' penalty and of the adversary (diffdp, diffeopp, "
                   "diffeodd, adv_debias)",
    "fairgrad_alpha": "FairGrad's alpha (1 = proportional fairness, the Nash weighting)",
}


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
                        metavar=kind.__name__.upper(), help=_hp_help(f))
    hp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any hyper-parameter")
    p.set_defaults(func=_run_train)


def _hp_help(field: dataclasses.Field) -> str:
    """``"learning rate of SGD (default: the setting's value, ...)"``; a fixed default is shown with its value."""
    default = ("the setting's value, docs/method.md §5" if field.default is dataclasses.MISSING
               else f"{field.default}, unless the setting sets its own")
    return f"{HP_HELP.get(field.name, 'see fairbench/hparams.py')} (default: {default})"


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
    p = sub.add_parser("methods", help="list the valid method names",
                       description="Every valid method name; the paper's eight are marked, and each NBS variant "
                                   "names the one-stage method the reports pair it with.")
    p.set_defaults(func=_run_methods)


def _run_methods(args: argparse.Namespace) -> int:
    from fairbench.registry import PAPER_METHODS, available_methods, nbs_pairs

    pairs = nbs_pairs()
    for name in available_methods():
        notes = (["paper"] if name in PAPER_METHODS else []) + ([f"paired with {pairs[name]}"] if name in pairs else [])
        print(name + (f"  ({'; '.join(notes)})" if notes else ""))
    return 0


def build_parser(full: Collection[str] = tuple(COMMANDS)) -> argparse.ArgumentParser:
    """The ``fairbench`` argument parser; the commands in ``full`` are built completely (importing their
    modules), the others only as their line of the top-level help."""
    parser = argparse.ArgumentParser(prog="fairbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    own = {"train": _add_train, "methods": _add_methods}
    for name, (summary, module) in COMMANDS.items():
        if name not in full:
            sub.add_parser(name, help=summary)
        elif name in own:
            own[name](sub)
        else:
            importlib.import_module(module).register(sub)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` (its first word that is not an option), if any."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fairbench`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(full=[c for c in (_command(argv),) if c in COMMANDS]).parse_args(argv)
    from fairbench.data.errors import DataError  # the data layer loads its catalogue: not for --help

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
