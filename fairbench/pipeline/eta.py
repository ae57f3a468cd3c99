"""How long the training jobs of one invocation will take, estimated from timed runs.

The timings are the ``wall_seconds`` of finished run records (a seed's training and evaluation inside
its process) in a reference tree, by default the repository's committed ``results/runs``. A run to be
trained takes the time of the same configuration's committed run (same folder); else the median of the
runs of its protocol, setting and method; else of its setting; else it is counted as untimed. Each job
(a chunk of seeds, ``fairbench.pipeline.chunks``) adds :data:`JOB_START_SECONDS` for its process and the
Snakemake job. The wall time is the job-seconds over the jobs that run at once, which assumes the
reference runs were timed on a machine like this one (the estimate says where its timings come from).
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fairbench.pipeline.chunks import Chunk
from fairbench.pipeline.config import TrainJob

#: The repository's committed runs: the default source of timings.
COMMITTED_RUNS = Path(__file__).resolve().parents[2] / "results" / "runs"
#: Seconds one training job costs besides its seeds' training (process start, imports, the Snakemake job),
#: measured by ``fairbench bench --population`` (docs/architecture.md).
JOB_START_SECONDS = 3.0
#: A run record larger than this is not read for its timing (records are a few kB).
MAX_RECORD_BYTES = 1 << 20


def recorded_seconds(run_json: Path) -> float | None:
    """A finished run's ``wall_seconds``, or None (no record, not complete, too large, not a number)."""
    try:
        if not run_json.is_file() or run_json.stat().st_size > MAX_RECORD_BYTES:
            return None
        record = json.loads(run_json.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("status") != "complete":
        return None
    seconds = record.get("wall_seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < 1e6:
        return None
    return float(seconds)


@dataclass(frozen=True)
class Estimate:
    """Job-seconds and wall seconds of the training still to do."""

    job_seconds: float
    wall_seconds: float
    runs: int
    timed_same_run: int
    timed_by_median: int
    untimed: int
    parallel_jobs: int
    source: str

    def line(self) -> str:
        """One line for the start message."""
        if self.runs == 0:
            return "  estimated training time: none (nothing to train)"
        if self.untimed == self.runs:
            return (f"  estimated training time: unknown (no timed run of these settings in {self.source})")
        basis = (f"from the timings in {self.source}: {self.timed_same_run:,} runs by their own earlier run, "
                 f"{self.timed_by_median:,} by the median of their protocol, setting and method (else setting)")
        untimed = f"; {self.untimed:,} runs without any timing are not counted" if self.untimed else ""
        return (f"  estimated training time: about {format_duration(self.wall_seconds)} with {self.parallel_jobs} "
                f"job(s) at once ({self.job_seconds / 3600:,.1f} job-hours; {basis}{untimed}; timed on the "
                f"machine that trained them)")


def format_duration(seconds: float) -> str:
    """``9240`` -> ``"2 h 34 min"``; under an hour in minutes, under a minute ``"under 1 min"``."""
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under 1 min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _medians(source: Path) -> tuple[dict[tuple[str, str, str], float], dict[str, float]]:
    """Median run seconds by (protocol, setting, method) and by setting, over ``source``'s records laid
    out as ``<experiment>/<protocol>/<setting>/<method>/<variant>/seed<n>/run.json``."""
    by_config: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    by_setting: dict[str, list[float]] = defaultdict(list)
    for run_json in source.glob("*/*/*/*/*/seed*/run.json"):
        seconds = recorded_seconds(run_json)
        if seconds is None:
            continue
        protocol, setting, method = run_json.parts[-6:-3]
        by_config[(protocol, setting, method)].append(seconds)
        by_setting[setting].append(seconds)
    return ({k: statistics.median(v) for k, v in by_config.items()},
            {k: statistics.median(v) for k, v in by_setting.items()})


def estimate(chunks: Sequence[Chunk], parallel_jobs: int, source: str | Path = COMMITTED_RUNS) -> Estimate:
    """The estimate for training ``chunks`` with ``parallel_jobs`` jobs at once, timed by ``source``."""
    source = Path(source)
    by_config, by_setting = _medians(source) if source.is_dir() else ({}, {})
    job_seconds, same, median, untimed, runs = 0.0, 0, 0, 0, 0
    for chunk in chunks:
        job: TrainJob = chunk.job
        job_seconds += JOB_START_SECONDS
        for seed in chunk.seeds:
            runs += 1
            seconds = recorded_seconds(source / job.run_folder(seed) / "run.json")
            if seconds is not None:
                same += 1
            else:
                seconds = by_config.get((job.protocol, job.setting, job.method), by_setting.get(job.setting))
                if seconds is None:
                    untimed += 1
                    continue
                median += 1
            job_seconds += seconds
    jobs = max(1, parallel_jobs)
    wall = job_seconds / min(jobs, max(len(chunks), 1))
    return Estimate(job_seconds, wall, runs, same, median, untimed, jobs, str(source))

