"""The pipeline's estimate of its training time (fairbench/pipeline/eta.py), from timed run records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fairbench.pipeline.chunks import Chunk
from fairbench.pipeline.config import TrainJob
from fairbench.pipeline.eta import JOB_START_SECONDS, estimate, format_duration, recorded_seconds


def _record(root: Path, job: TrainJob, seed: int, seconds: object, status: str = "complete") -> None:
    folder = root / job.run_folder(seed)
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"status": status, "wall_seconds": seconds}))


def _job(method: str = "erm", setting: str = "titanic-sex", seeds: tuple[int, ...] = (0, 1, 2)) -> TrainJob:
    return TrainJob("main", "standard", setting, method, "default", seeds)


def test_a_run_takes_its_own_earlier_time_else_its_configurations_median(tmp_path: Path) -> None:
    timed = _job(seeds=(0, 1, 2))
    for seed, seconds in ((0, 10.0), (1, 20.0), (2, 60.0)):
        _record(tmp_path, timed, seed, seconds)
    new_seeds = TrainJob("main", "standard", "titanic-sex", "erm", "default", (0, 7))
    result = estimate([Chunk(new_seeds, (0, 7))], parallel_jobs=1, source=tmp_path)
    # seed 0 by its own record (10 s), seed 7 by the median of the configuration (20 s), one job start
    assert result.job_seconds == 10.0 + 20.0 + JOB_START_SECONDS
    assert (result.timed_same_run, result.timed_by_median, result.untimed) == (1, 1, 0)


def test_other_methods_of_a_setting_fall_back_to_the_settings_median_and_unknown_settings_are_untimed(
        tmp_path: Path) -> None:
    for seed, seconds in ((0, 4.0), (1, 8.0)):
        _record(tmp_path, _job(), seed, seconds)
    chunks = [Chunk(_job("nbs_ltr"), (0,)), Chunk(_job("erm", "adult-sex"), (0,))]
    result = estimate(chunks, parallel_jobs=2, source=tmp_path)
    assert result.job_seconds == 6.0 + 2 * JOB_START_SECONDS  # the setting's median; adult-sex has none
    assert (result.timed_by_median, result.untimed) == (1, 1)
    assert result.wall_seconds == result.job_seconds / 2
    assert "1 runs without any timing are not counted" in result.line()


def test_untrusted_records_give_no_timing(tmp_path: Path) -> None:
    job = _job(seeds=(0, 1, 2, 3, 4))
    _record(tmp_path, job, 0, "12")               # not a number
    _record(tmp_path, job, 1, -3.0)               # negative
    _record(tmp_path, job, 2, 5.0, status="failed")
    _record(tmp_path, job, 3, True)               # a bool is no duration
    (tmp_path / job.run_folder(4)).mkdir(parents=True)
    (tmp_path / job.run_folder(4) / "run.json").write_text("{not json")
    for seed in range(5):
        assert recorded_seconds(tmp_path / job.run_folder(seed) / "run.json") is None
    result = estimate([Chunk(job, (0, 1, 2, 3, 4))], parallel_jobs=1, source=tmp_path)
    assert result.untimed == 5 and "unknown" in result.line()


def test_no_source_and_nothing_to_train_are_said_plainly(tmp_path: Path) -> None:
    assert "none (nothing to train)" in estimate([], parallel_jobs=4, source=tmp_path).line()
    assert "unknown" in estimate([Chunk(_job(), (0,))], parallel_jobs=1, source=tmp_path / "absent").line()


@pytest.mark.parametrize("seconds, text", [(20, "under 1 min"), (150, "2 min"), (9240, "2 h 34 min")])
def test_durations_read_as_hours_and_minutes(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text

