"""``fairbench bench --population``: job-seconds per run of one configuration's seeds, trained (a) one
process per seed (the pipeline's jobs before chunks) and (b) one process for all seeds (a chunk,
``fairbench train --seeds``), side by side, with their ratio.

Each mode runs the real command line (``python -m fairbench.cli train``) in fresh processes on the same
prepared data, one thread each, and is timed from outside (wall seconds of the processes, one after the
other). The fixed cost per run is the job-seconds per run minus the run's own training time
(``wall_seconds`` in ``run.json``: from loading the split to the last epoch). A Snakemake job adds its
own start (about 0.3 s) to each process; it is not included. A batched population (the seed as a
leading dimension of one training step) is not built, so there is no mode (c).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModeTiming:
    """One mode's measurement over ``runs`` runs."""

    mode: str
    processes: int
    runs: int
    job_seconds: float  # wall seconds of every process of the mode, summed
    train_seconds: float  # the runs' own wall_seconds (run.json), summed

    @property
    def per_run(self) -> float:
        return self.job_seconds / self.runs

    @property
    def fixed_per_run(self) -> float:
        return (self.job_seconds - self.train_seconds) / self.runs


def _train(args: list[str]) -> float:
    """Wall seconds of one ``fairbench train`` process; a one-line error if it fails."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "fairbench.cli", "train", *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no error message"])[-1]
        raise ValueError(f"population benchmark: fairbench train failed: {last}")
    return seconds


def _train_seconds(folders: list[Path]) -> float:
    return sum(float(json.loads((folder / "run.json").read_text())["wall_seconds"]) for folder in folders)


def measure(setting: str, method: str, seeds: list[int], *, protocol: str, epochs: int,
            prepared_dir: str | None) -> list[ModeTiming]:
    """Time modes (a) and (b) for ``seeds`` of (setting, method, protocol) with ``epochs`` epochs."""
    if not seeds:
        raise ValueError("--population-seeds: at least one seed")
    with tempfile.TemporaryDirectory(prefix="fairbench-population-") as tmp:
        work = Path(tmp)
        if prepared_dir is None:  # prepared once, outside the timings
            from fairbench.data import prepare

            prepared_dir = str(work / "prepared")
            prepare(setting, prepared_dir)
        common = ["--setting", setting, "--method", method, "--protocol", protocol, "--epochs", str(epochs),
                  "--prepared", prepared_dir, "--threads", "1", "--wandb-mode", "disabled", "--no-progress"]
        per_seed = [work / "a" / f"seed{seed}" for seed in seeds]
        a_seconds = sum(_train([*common, "--seed", str(seed), "--out", str(folder)])
                        for seed, folder in zip(seeds, per_seed))
        together = [work / "b" / f"seed{seed}" for seed in seeds]
        b_seconds = _train([*common, "--seeds", ",".join(map(str, seeds)), "--out", str(work / "b" / "seed{seed}")])
        return [ModeTiming("(a) one process per seed", len(seeds), len(seeds), a_seconds, _train_seconds(per_seed)),
                ModeTiming("(b) one process for all seeds", 1, len(seeds), b_seconds, _train_seconds(together))]


def report(setting: str, method: str, protocol: str, epochs: int, timings: list[ModeTiming]) -> str:
    """The modes side by side, and each one's ratio to mode (a)."""
    runs = timings[0].runs
    lines = [f"{setting} {method} ({protocol} protocol, {epochs} epochs), {runs} seeds; job-seconds per run "
             "(processes timed from outside, one thread each)",
             f"{'mode':<32} {'processes':>9} {'s/run':>8} {'train s/run':>11} {'fixed s/run':>11} {'(a)/mode':>9}"]
    for t in timings:
        lines.append(f"{t.mode:<32} {t.processes:>9} {t.per_run:>8.3f} {t.train_seconds / t.runs:>11.3f} "
                     f"{t.fixed_per_run:>11.3f} {timings[0].per_run / t.per_run:>9.2f}")
    lines.append("(c) batched population: not built")
    return "\n".join(lines)
