"""``fairbench bench``: speed of one training step, as ratios to a plain ERM step on the same batch.

Measures, on adult-sex (K = 4 cells) and adult-race (K = 10), with B = 512 and the paper's
hyper-parameters: ms per step for ERM, LtR and NBS+LtR (stage 1), the NBS solve alone, and a faithful
re-creation of the reference's meta step (double backward through the look-ahead, and the cvxpy
sequential convex solver rebuilt at every batch). Prints medians; targets are ratios, not seconds.
Then how the meta step (hypergradients alone, and a whole NBS+LtR stage-1 step) and the NBS solve scale
with the number of (group, label) cells K = 4, 10, 20 (``--cells``), on synthetic data of the same shape
(B = 512, 100 features, 3 validation rows per cell; K = 20 is 10 groups).
``--breakdown`` also times each part of a step alone (dropout draws, forward, backward, look-ahead, ...).
``--population SETTING`` instead times whole runs: job-seconds per run of a configuration's seeds
trained one process per seed and one process for all seeds (``fairbench/perf/population.py``).

This module is the command line (arguments and their checks) without torch, so that ``--help`` is instant;
the measurements are in :mod:`fairbench.perf.bench`, imported when the command runs.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fairbench bench``."""
    p = subparsers.add_parser("bench", help="time training steps (ratios to ERM)", description=__doc__)
    p.add_argument("--prepared", default=None, help="folder of prepared datasets")
    p.add_argument("--settings", default="adult-sex,adult-race")
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--reference-repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--breakdown", action="store_true", help="also time each part of a step alone")
    p.add_argument("--cells", default="4,10,20",
                   help="numbers of (group, label) cells K of the scaling table (even; empty: no table)")
    p.add_argument("--device", default=None, metavar="cpu|cuda|auto",
                   help="instead: ms per step on the CPU and on this device (fast and generic paths; "
                        "fairbench/perf/bench_device.py); without it, a machine with a GPU gets that table after "
                        "the usual one")
    p.add_argument("--model", default=None, help="with --device: time this model (default: the setting's)")
    pop = p.add_argument_group("population mode: whole runs, one process per seed against one for all seeds")
    pop.add_argument("--population", default=None, metavar="SETTING",
                     help="instead: job-seconds per run of SETTING's seeds (e.g. titanic-sex)")
    pop.add_argument("--method", default="nbs_ltr", help="with --population: the method (default nbs_ltr)")
    pop.add_argument("--protocol", default="standard", choices=["paper", "standard"])
    pop.add_argument("--seeds", type=int, default=5, help="with --population: seeds 0..N-1 (default 5)")
    pop.add_argument("--epochs", type=int, default=5, help="with --population: epochs per run (default 5)")
    p.set_defaults(func=_run)


def check_counts(args: argparse.Namespace) -> None:
    """One-line errors for counts that cannot time anything (``--repeats 0``, ``--threads 0``, ...)."""
    for name, minimum in (("repeats", 1), ("warmup", 0), ("reference_repeats", 1), ("threads", 1), ("seeds", 1),
                          ("epochs", 1)):
        value = getattr(args, name)
        if value < minimum:
            raise ValueError(f"--{name.replace('_', '-')} must be at least {minimum} (got {value})")


def parse_cells(text: str) -> list[int]:
    """``"4,10,20"`` -> [4, 10, 20]; a one-line error for anything else."""
    try:
        cells = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--cells takes comma-separated even numbers such as 4,10,20 (got {text!r})") from None
    bad = [k for k in cells if k < 2 or k % 2 or k > 200]
    if bad:
        raise ValueError(f"--cells takes even numbers from 2 to 200 (two labels per group), got {bad}")
    return cells


def _run(args: argparse.Namespace) -> int:
    check_counts(args)
    cells = parse_cells(args.cells)  # a bad --cells fails before torch is imported
    from fairbench.perf import bench

    return bench.run(args, cells)
