"""The training jobs of one pipeline invocation: a configuration's seeds without a finished record,
trained in chunks of seeds, one process per chunk.

A process trains a seed in about 0.2 s more than the seed's own training, while a process of its own
costs about 3 s (imports, process start, the Snakemake job); so one job trains several seeds of one
configuration, one after the other (``fairbench train --seeds``). Chunks are defined when the workflow
is loaded and only over the seeds that have no record then, so a deleted or added seed trains alone;
each seed's record is written as it finishes, so a job that is killed keeps the seeds it finished.

A chunk is named by its seed list (:func:`seeds_tag`, e.g. ``0-4_7``); its job writes a marker file
(:data:`MARKER`) after every seed of the chunk has a record: the marker, not the run records, is the
rule's output, so Snakemake never deletes a finished run (it removes the outputs of a failed job).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fairbench.pipeline.config import TrainJob
from fairbench.pipeline.plan import RUN_FILE, run_status

#: A run whose record has one of these statuses is kept; any other run of the configuration is trained.
KEPT_STATUSES = ("complete", "failed")
#: One chunk's seeds: ranges ``a-b`` and single seeds joined by ``_`` (``0-4_7`` = 0, 1, 2, 3, 4, 7).
SEEDS_TAG = re.compile(r"^\d+(?:-\d+)?(?:_\d+(?:-\d+)?)*$")
#: A chunk's marker, relative to ``<results_dir>``: written when every seed of the chunk has a record.
MARKER = "logs/train/{folder}/seeds{tag}.done"
#: Seeds one training job trains by default (config key ``seeds_per_job``).
DEFAULT_SEEDS_PER_JOB = 10


@dataclass(frozen=True)
class Chunk:
    """Seeds of one configuration trained by one job, in one process."""

    job: TrainJob
    seeds: tuple[int, ...]

    @property
    def tag(self) -> str:
        return seeds_tag(self.seeds)

    def marker(self, results_dir: str | Path) -> str:
        """The chunk's marker file (the output of its job)."""
        return f"{results_dir}/{MARKER.format(folder=self.job.folder, tag=self.tag)}"


def seeds_tag(seeds: Sequence[int]) -> str:
    """``(0, 1, 2, 3, 4, 7)`` -> ``"0-4_7"``: the seeds in order, consecutive ones as a range."""
    if not seeds:
        raise ValueError("a chunk has at least one seed")
    ordered = sorted(set(int(s) for s in seeds))
    parts: list[str] = []
    start = prev = ordered[0]
    for seed in [*ordered[1:], None]:
        if seed is not None and seed == prev + 1:
            prev = seed
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if seed is not None:
            start = prev = seed
    return "_".join(parts)


def parse_seeds_tag(tag: str) -> tuple[int, ...]:
    """Inverse of :func:`seeds_tag`; a ValueError for anything else."""
    if not SEEDS_TAG.match(tag):
        raise ValueError(f"not a seed list such as 0-4_7: {tag!r}")
    seeds: list[int] = []
    for part in tag.split("_"):
        first, _, last = part.partition("-")
        low, high = int(first), int(last or first)
        if high < low:
            raise ValueError(f"not a seed list such as 0-4_7: {tag!r} ({part} runs backwards)")
        seeds.extend(range(low, high + 1))
    return tuple(seeds)


def seeds_to_train(job: TrainJob, runs_dir: str | Path, statuses: dict[str, str] | None = None) -> tuple[int, ...]:
    """The job's seeds whose run folder holds no kept record (:data:`KEPT_STATUSES`). ``statuses``: run
    folder -> status, as a survey found them (read from disk otherwise)."""
    missing = []
    for seed in job.seeds:
        folder = Path(runs_dir) / job.run_folder(seed)
        status = statuses.get(str(folder)) if statuses is not None else None
        if status is None:
            status = run_status(folder / RUN_FILE)
        if status not in KEPT_STATUSES:
            missing.append(seed)
    return tuple(missing)


def split_evenly(seeds: Sequence[int], size: int) -> list[tuple[int, ...]]:
    """``seeds`` in consecutive pieces of at most ``size``, as equal as possible (25 by 10: 9, 8, 8)."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1 (got {size})")
    pieces = math.ceil(len(seeds) / size)
    if pieces == 0:
        return []
    base, extra = divmod(len(seeds), pieces)
    out, start = [], 0
    for i in range(pieces):
        end = start + base + (1 if i < extra else 0)
        out.append(tuple(seeds[start:end]))
        start = end
    return out


def parallel_jobs(cores: object, nodes: object, threads_per_job: int) -> int:
    """How many training jobs run at once: ``--cores`` over the threads of a job, or ``--jobs`` (``nodes``)
    on a cluster executor, which gives no cores; at least 1."""
    if isinstance(cores, int):
        return max(1, cores // max(threads_per_job, 1))
    return max(1, int(nodes)) if isinstance(nodes, int) else 1


def plan_chunks(missing: Iterable[tuple[TrainJob, tuple[int, ...]]], seeds_per_job: int,
                parallel_jobs: int = 1) -> list[Chunk]:
    """Chunks of the missing seeds of each configuration: at most ``seeds_per_job`` seeds each, and
    smaller when that leaves fewer chunks than ``parallel_jobs`` (so that ``--cores`` stays filled)."""
    todo = [(job, seeds) for job, seeds in missing if seeds]
    total = sum(len(seeds) for _, seeds in todo)
    size = max(1, min(seeds_per_job, math.ceil(total / max(parallel_jobs, 1)))) if total else seeds_per_job
    return [Chunk(job, piece) for job, seeds in todo for piece in split_evenly(seeds, size)]
