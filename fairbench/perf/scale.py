"""``fairbench scale``: training cost against the number of rows, on subsamples of one setting.

For every (rows, method) a fresh Python process loads a seeded subsample of the prepared table
(only those rows), draws the setting's split recipe from seed 0, and trains for a few full epochs
under the standard protocol (T at least the number of epochs, so NBS+LtR bargains at every step).
Per epoch (every training step plus the evaluation on test and validation rows; measured, not
extrapolated) it reports the median over the epochs after the first of the wall seconds and of the
process's CPU seconds (one torch thread: the CPU time is the cost, and does not grow when other
processes share the machine), and ms of CPU per step. Memory: the resident memory before the data
was read (after imports), the peak once the split is built (``ru_maxrss``), and the peak at the end
of training. Expected shape: time per epoch linear in rows (``floor(n_train / B)`` steps of equal
cost), and peak memory = the process after imports + a constant multiple of the data (``n x d``
floats, held a few times over while the split is built: encoded float64 table, scaling temporaries,
float32 parts) + a constant for training.

Ratios are printed against the smallest subsample; the table goes to ``scale.csv`` / ``scale.md``
and the figure to ``scale.png`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SIZES = (10_000, 30_000, 100_000, "all")
METHODS = ("erm", "nbs_ltr")
DEFAULT_SETTING = "acs_income-sex"
COLUMNS = ("method", "rows", "n_train", "features", "steps_per_epoch", "epoch_seconds", "epoch_cpu_seconds",
           "ms_per_step", "base_mb", "data_peak_mb", "peak_mb", "extra_mb", "data_mb")


@dataclass(frozen=True)
class Measurement:
    """One (method, rows) point; ``data_mb`` is the float32 feature matrix of the subsample (n x d x 4 bytes).

    ``ms_per_step`` is CPU time: ``epoch_cpu_seconds / steps_per_epoch`` (evaluation included).
    """

    method: str
    rows: int
    n_train: int
    features: int
    steps_per_epoch: int
    epoch_seconds: float
    epoch_cpu_seconds: float
    ms_per_step: float
    base_mb: float
    data_peak_mb: float
    peak_mb: float
    data_mb: float

    @property
    def extra_mb(self) -> float:
        """Peak resident memory above the process after imports."""
        return self.peak_mb - self.base_mb

    def row(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in COLUMNS}


def _rss_mb() -> float:
    """Current resident memory of this process (``VmRSS``), in MiB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise OSError("VmRSS not found in /proc/self/status")


def _peak_mb() -> float:
    """Peak resident memory of this process (``ru_maxrss``, KiB on Linux), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_subsamples(setting: str, prepared_dir: Path, sizes: list[int], out: Path) -> dict[int, Path]:
    """Seeded subsamples (rows in file order) of the prepared table, one Parquet file per size."""
    import numpy as np
    import pyarrow.parquet as pq

    from fairbench.data.prepared import load_prepared, prepared_paths

    load_prepared(prepared_dir, setting)  # validated once, with a clear error when missing
    table = pq.read_table(prepared_paths(prepared_dir, setting)[0])
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for n in sizes:
        if n > table.num_rows:
            raise ValueError(f"--sizes: {n} rows asked, {setting} has {table.num_rows}")
        rows = np.sort(np.random.default_rng(0).choice(table.num_rows, size=n, replace=False))
        paths[n] = out / f"{setting}-{n}.parquet"
        pq.write_table(table.take(rows), paths[n])
    return paths


def measure(setting: str, method: str, parquet: Path, epochs: int, seed: int = 0) -> Measurement:
    """Train ``method`` on the table at ``parquet`` (in this process) and measure it; see the module doc."""
    import numpy as np
    import pandas as pd

    from fairbench.data.indices import draw_indices
    from fairbench.data.prepared import GROUP_COLUMN, LABEL_COLUMN
    from fairbench.data.preprocess import EncodedTable
    from fairbench.data.registry import get_setting
    from fairbench.data.splits import split_from_indices
    from fairbench.data.hyperparams import reference_hyperparams
    from fairbench.method.meta import ValidationSet
    from fairbench.evaluation.protocols import get_protocol
    from fairbench.registry import build_method
    from fairbench.training.loop import train

    spec = get_setting(setting)
    protocol = get_protocol("standard")
    hp = reference_hyperparams(setting).override(epochs=epochs, bargain_epochs=max(epochs, 1))
    base = _rss_mb()
    frame = pd.read_parquet(parquet, engine="pyarrow")
    y = frame.pop(LABEL_COLUMN).to_numpy(dtype=np.int64)
    group = frame.pop(GROUP_COLUMN).to_numpy(dtype=np.int64)
    table = EncodedTable(setting=setting, features=frame, y=y, group=group, group_names=spec.group_names)
    indices = draw_indices(group, y, spec.n_groups, seed=seed, test_fraction=spec.test_fraction,
                           val_per_cell=hp.val_per_cell, test_with_replacement=False, setting=setting,
                           test_per_cell=spec.test_per_cell)
    data = split_from_indices(table, indices, f"scale-{len(y)}", scaler_fit=protocol.scaler_fit)
    data_peak = _peak_mb()
    va = data.val.to_torch()
    method_obj = build_method(method, hp, protocol, ValidationSet.build(va.X, va.y, va.group, data.n_groups))
    clocks = [(time.perf_counter(), time.process_time())]
    train(data, method_obj, hp, protocol, seed, progress=False,
          on_epoch=lambda row: clocks.append((time.perf_counter(), time.process_time())))
    later = clocks[1:] if len(clocks) > 2 else clocks  # the first epoch also pays for set-up
    wall = statistics.median(b[0] - a[0] for a, b in zip(later, later[1:]))
    cpu = statistics.median(b[1] - a[1] for a, b in zip(later, later[1:]))
    steps = len(data.train) // hp.batch_size
    return Measurement(method=method, rows=len(y), n_train=len(data.train), features=data.n_features,
                       steps_per_epoch=steps, epoch_seconds=wall, epoch_cpu_seconds=cpu, ms_per_step=1e3 * cpu / steps,
                       base_mb=base, data_peak_mb=data_peak, peak_mb=_peak_mb(),
                       data_mb=len(y) * data.n_features * 4 / 2**20)


def run_worker(setting: str, method: str, parquet: Path, epochs: int) -> Measurement:
    """:func:`measure` in a fresh interpreter, so that its peak memory is its own."""
    code = ("import json, sys; from fairbench.perf.scale import measure; "
            "m = measure(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])); "
            "print(json.dumps(m.__dict__))")
    done = subprocess.run([sys.executable, "-c", code, setting, method, str(parquet), str(epochs)],
                          capture_output=True, text=True, env={**os.environ, "WANDB_MODE": "disabled"})
    if done.returncode != 0:
        raise RuntimeError(f"scale measurement of {method} on {parquet.name} failed: {done.stderr.strip()[-500:]}")
    return Measurement(**json.loads(done.stdout.strip().splitlines()[-1]))


def linear_fit(x: list[float], y: list[float]) -> tuple[float, float]:
    """Least-squares ``y = a + b x``; returns ``(a, b)``."""
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((v - mx) ** 2 for v in x)
    b = sum((u - mx) * (v - my) for u, v in zip(x, y)) / sxx if sxx else 0.0
    return my - b * mx, b


def summary(results: list[Measurement]) -> str:
    """A Markdown table with ratios to the smallest subsample, and the fitted memory slope per method."""
    lines = ["| method | rows | steps/epoch | CPU s/epoch | CPU ms/step | wall s/epoch | rows ratio | CPU time ratio | "
             "peak MiB | above imports MiB | of it, training MiB | data MiB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    notes = []
    for method in dict.fromkeys(m.method for m in results):
        points = sorted((m for m in results if m.method == method), key=lambda m: m.rows)
        first = points[0]
        for m in points:
            lines.append(f"| {method} | {m.rows:,} | {m.steps_per_epoch} | {m.epoch_cpu_seconds:.3f} | "
                         f"{m.ms_per_step:.2f} | {m.epoch_seconds:.3f} | {m.rows / first.rows:.1f}x | "
                         f"{m.epoch_cpu_seconds / first.epoch_cpu_seconds:.1f}x | {m.peak_mb:.0f} | {m.extra_mb:.0f} | "
                         f"{m.peak_mb - m.data_peak_mb:.0f} | {m.data_mb:.1f} |")
        a, b = linear_fit([m.data_mb for m in points], [m.extra_mb for m in points])
        t0, t1 = linear_fit([float(m.rows) for m in points], [m.epoch_cpu_seconds for m in points])
        notes.append(f"{method}: memory above imports = {a:.0f} MiB + {b:.1f} x data; "
                     f"CPU seconds per epoch = {t0:.3f} + {1e6 * t1:.2f} per million rows")
    return "\n".join(lines + [""] + notes)


def figure(results: list[Measurement], path: Path) -> None:
    """Two panels: seconds per epoch against rows (log-log, with a linear reference), memory against data size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fairbench.reports.labels import method_label, method_style

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    for method in dict.fromkeys(m.method for m in results):
        points = sorted((m for m in results if m.method == method), key=lambda m: m.rows)
        style = {k: v for k, v in method_style(method).items() if k in ("color", "linestyle", "marker")}
        rows = [m.rows for m in points]
        left.plot(rows, [m.epoch_cpu_seconds for m in points], label=method_label(method), **style)
        left.plot(rows, [points[-1].epoch_cpu_seconds * r / rows[-1] for r in rows], color=style["color"],
                  linestyle=":", linewidth=0.8)
        right.plot([m.data_mb for m in points], [m.extra_mb for m in points], label=method_label(method), **style)
    left.set(xscale="log", yscale="log", xlabel="rows", ylabel="CPU seconds per epoch",
             title="time per epoch (dotted: linear in rows)")
    right.set(xlabel="feature matrix, float32 (MiB)", ylabel="peak memory above imports (MiB)",
              title="peak memory")
    left.legend(frameon=False)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)


def _sizes(text: str) -> list[int | str]:
    out: list[int | str] = []
    for part in text.split(","):
        part = part.strip().replace("_", "")
        if part == "all":
            out.append("all")
        elif part.isdigit() and int(part) > 0:
            out.append(int(part))
        else:
            raise ValueError(f"--sizes {text!r}: expected positive row counts or 'all', e.g. 10000,30000,all")
    return out


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``scale`` to the ``fairbench`` sub-commands."""
    p = subparsers.add_parser("scale", help="training cost against the number of rows (subsamples of one setting)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--setting", default=DEFAULT_SETTING, help="default: %(default)s")
    p.add_argument("--prepared", required=True, help="folder holding the prepared setting (fairbench data prepare)")
    p.add_argument("--sizes", default=",".join(map(str, SIZES)), help="row counts and/or 'all' (default: %(default)s)")
    p.add_argument("--methods", default=",".join(METHODS), help="default: %(default)s")
    p.add_argument("--epochs", type=int, default=3, help="epochs per point; the median of the epochs after the first is reported (default: %(default)s)")
    p.add_argument("--out", default="results/figures/scale", help="where scale.png/.csv/.md go (default: %(default)s)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import pandas as pd

    from fairbench.data.prepared import load_prepared
    from fairbench.registry import available_methods

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in available_methods()]
    if unknown or not methods:
        raise ValueError(f"--methods: unknown {unknown}; see `fairbench methods`")
    if args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1 (got {args.epochs})")
    n_all = len(load_prepared(args.prepared, args.setting).y)
    sizes = sorted({n_all if s == "all" else int(s) for s in _sizes(args.sizes)})
    out = Path(args.out)
    start = time.perf_counter()
    work = out / "subsamples"
    paths = write_subsamples(args.setting, Path(args.prepared), sizes, work)
    results = []
    try:
        for n in sizes:
            for method in methods:
                m = run_worker(args.setting, method, paths[n], args.epochs)
                print(f"{method:>8} {n:>8,} rows: {m.epoch_cpu_seconds:7.3f} CPU s/epoch ({m.epoch_seconds:.3f} wall), "
                      f"{m.ms_per_step:6.2f} ms/step, "
                      f"peak {m.peak_mb:6.0f} MiB ({m.extra_mb:5.0f} above imports, data {m.data_mb:5.1f})",
                      flush=True)
                results.append(m)
    finally:
        for path in paths.values():
            path.unlink(missing_ok=True)
        if work.is_dir() and not any(work.iterdir()):
            work.rmdir()
    text = summary(results)
    print(text)
    pd.DataFrame([m.row() for m in results]).to_csv(out / "scale.csv", index=False)
    (out / "scale.md").write_text(f"`fairbench scale --setting {args.setting} --sizes {args.sizes} --methods "
                                  f"{args.methods} --epochs {args.epochs}` ({time.perf_counter() - start:.0f} s)\n\n"
                                  + text + "\n")
    figure(results, out / "scale.png")
    print(f"wrote {out / 'scale.png'}, {out / 'scale.csv'}, {out / 'scale.md'}")
    return 0
