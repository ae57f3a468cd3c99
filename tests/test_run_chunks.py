"""Training jobs as chunks of a configuration's missing seeds (fairbench.pipeline.chunks), the end of
such a job (failure records, a killed job), and `fairbench train --seeds` as the job runs it."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from fairbench.cli import main
from fairbench.evaluation.protocols import get_protocol
from fairbench.hparams import HyperParams
from fairbench.pipeline.chunks import parse_seeds_tag, plan_chunks, seeds_tag, seeds_to_train, split_evenly
from fairbench.pipeline.config import ConfigError, TrainJob, check_config
from fairbench.pipeline.plan import finish_chunk, killing_signal, record_failure
from fairbench.runs import execute as runs
from tests.helpers import synthetic_split

JOB = TrainJob("mine", "standard", "titanic-sex", "erm", "default", tuple(range(6)))


def _record(folder: Path, status: str, *, with_files: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps({"status": status, "config": {}}))
    if with_files:
        (folder / "metrics.csv").write_text("epoch,auc\n1,0.8\n")
        (folder / "predictions.npz").write_bytes(b"x")


@pytest.mark.parametrize("seeds,tag", [((0,), "0"), ((0, 1, 2, 3, 4), "0-4"), ((4, 0, 1, 2, 3, 7), "0-4_7"),
                                       ((2, 5, 6, 9), "2_5-6_9")])
def test_a_chunk_is_named_by_its_seed_list(seeds, tag) -> None:
    assert seeds_tag(seeds) == tag
    assert parse_seeds_tag(tag) == tuple(sorted(seeds))
    for bad in ("", "a", "3-1", "0-4/..", "0__1"):
        with pytest.raises(ValueError):
            parse_seeds_tag(bad)


def test_only_seeds_without_a_kept_record_are_trained(tmp_path) -> None:
    _record(tmp_path / JOB.run_folder(0), "complete")
    _record(tmp_path / JOB.run_folder(1), "failed")
    _record(tmp_path / JOB.run_folder(2), "running")  # a record of an attempt that never finished
    (tmp_path / JOB.run_folder(3)).mkdir(parents=True)
    (tmp_path / JOB.run_folder(3) / "run.json").write_text("{not json")
    assert seeds_to_train(JOB, tmp_path) == (2, 3, 4, 5)


def test_chunks_fill_the_cores_and_split_evenly() -> None:
    assert split_evenly(list(range(25)), 10) == [tuple(range(9)), tuple(range(9, 17)), tuple(range(17, 25))]
    other = TrainJob("mine", "standard", "titanic-sex", "ltr", "default", (0, 1))
    # one deleted seed of one configuration, one added seed of another: each trains alone
    chunks = plan_chunks([(JOB, (3,)), (other, (1,))], seeds_per_job=10, parallel_jobs=2)
    assert [(c.job.method, c.seeds) for c in chunks] == [("erm", (3,)), ("ltr", (1,))]
    # 12 missing seeds on 4 cores: chunks of 3, not one job of 10 and one of 2
    chunks = plan_chunks([(JOB, tuple(range(6))), (other, tuple(range(6)))], seeds_per_job=10, parallel_jobs=4)
    assert [len(c.seeds) for c in chunks] == [3, 3, 3, 3]
    assert plan_chunks([(JOB, tuple(range(6)))], seeds_per_job=4, parallel_jobs=1)[0].tag == "0-2"
    assert plan_chunks([(JOB, ())], seeds_per_job=4) == []


def test_a_failure_record_never_deletes_a_complete_run(tmp_path) -> None:
    run = tmp_path / "seed0"
    _record(run, "complete")
    record_failure(run, setting="titanic-sex", method="erm", seed=0, protocol="standard", overrides={},
                   exit_status=1, log=None)
    assert json.loads((run / "run.json").read_text())["status"] == "complete"
    assert (run / "metrics.csv").is_file() and (run / "predictions.npz").is_file()


def test_a_job_ends_with_a_record_per_seed_and_a_marker(tmp_path) -> None:
    template = str(tmp_path / "runs" / "seed{seed}")
    _record(tmp_path / "runs" / "seed0", "complete")  # finished before seed 1 failed without a record
    log = tmp_path / "train.log"
    log.write_text("fairbench train: error: batch_size 600 exceeds the 577 training rows of student_por-sex\n")
    marker = tmp_path / "logs" / "seeds0-1.done"
    assert finish_chunk(template, [0, 1], marker=marker, setting="student_por-sex", method="erm",
                        protocol="standard", overrides={}, exit_status=2, log=log) == 0
    assert (tmp_path / "runs" / "seed0" / "metrics.csv").is_file()
    failed = json.loads((tmp_path / "runs" / "seed1" / "run.json").read_text())
    assert failed["status"] == "failed" and "exceeds the 577 training rows" in failed["error"]
    assert json.loads(marker.read_text())["seeds"] == {"0": "complete", "1": "failed"}


@pytest.mark.parametrize("status,name", [(143, "SIGTERM"), (137, "SIGKILL")])
def test_a_killed_job_names_the_signal_and_leaves_its_seeds_to_retry(tmp_path, capsys, status, name) -> None:
    assert killing_signal(status) == getattr(signal, name) and killing_signal(2) is None
    template = str(tmp_path / "seed{seed}")
    _record(tmp_path / "seed0", "complete")
    log = tmp_path / "train.log"
    log.write_text("epoch 3 of 50\n")
    marker = tmp_path / "seeds0-1.done"
    assert finish_chunk(template, [0, 1], marker=marker, setting="titanic-sex", method="erm", protocol="standard",
                        overrides={}, exit_status=status, log=log) != 0
    out = capsys.readouterr().out
    assert f"killed by {name} (exit status {status}" in out and "seed 1" in out and "trains them again" in out
    assert not (tmp_path / "seed1" / "run.json").exists() and not marker.exists()
    assert seeds_to_train(TrainJob("e", "standard", "titanic-sex", "erm", "default", (0, 1)), tmp_path.parent / "x"
                          ) == (0, 1)  # (a folder without records: every seed)
    assert json.loads((tmp_path / "seed0" / "run.json").read_text())["status"] == "complete"


@pytest.mark.parametrize("name", ["..", "a/b", "two\nlines", "{x}", ".hidden", "x" * 65, ""])
def test_experiment_names_are_plain_folder_names(name) -> None:
    config = {"results_dir": "r", "seeds": [0], "experiments": {
        name: {"protocols": ["standard"], "settings": ["titanic-sex"], "methods": ["erm"]}}}
    with pytest.raises(ConfigError, match="config key 'experiments': experiment name .* is not a plain folder name"):
        check_config(config)


def test_an_experiment_of_ones_own_is_accepted() -> None:
    config = {"results_dir": "r", "seeds": [0], "seeds_per_job": 4, "experiments": {
        "mine.v2": {"protocols": ["standard"], "settings": ["titanic-sex"], "methods": ["erm"]}}}
    assert check_config(config)[0].folder == "mine.v2/standard/titanic-sex/erm/default"
    config["seeds_per_job"] = 0
    with pytest.raises(ConfigError, match="seeds_per_job"):
        check_config(config)


# ---------------------------------------------------------------------------------------------------
# fairbench train --seeds, as a training job runs it

HP = HyperParams(lr=0.05, dropout=0.2, batch_size=16, epochs=2, bargain_epochs=1, val_per_cell=2)


@pytest.fixture
def synthetic_runs(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """``execute`` on the synthetic split; records each call's keyword arguments."""
    calls: list[dict] = []
    real = runs.execute
    monkeypatch.setattr(runs, "load_run_data", lambda spec, prepared_dir=None: synthetic_split())
    monkeypatch.setattr(runs.RunSpec, "resolve", classmethod(
        lambda cls, setting, method, seed, protocol, overrides=None: cls(setting, method, seed, get_protocol(protocol),
                                                                         HP)))

    def recording(spec, out, **kwargs):
        calls.append({"seed": spec.seed, "out": out, **kwargs})
        if spec.seed == 1:
            raise RuntimeError("CUDA out of memory")  # any error of one seed
        return real(spec, out, **kwargs)

    monkeypatch.setattr(runs, "execute", recording)
    return calls


def test_a_failed_seed_is_recorded_alone_and_costs_the_others_nothing(tmp_path, synthetic_runs, capsys) -> None:
    out = tmp_path / "runs" / "seed{seed}"
    status = main(["train", "--setting", "titanic-sex", "--method", "erm", "--protocol", "standard",
                   "--seeds", "0,1,2", "--keep-going", "--out", str(out), "--no-progress"])
    assert status == 1
    records = {s: json.loads((tmp_path / "runs" / f"seed{s}" / "run.json").read_text()) for s in (0, 1, 2)}
    assert [records[s]["status"] for s in (0, 1, 2)] == ["complete", "failed", "complete"]
    assert records[1]["error"] == "CUDA out of memory" and records[1]["config"]["seed"] == 1
    lines = capsys.readouterr().out.splitlines()  # one summary line per finished seed
    assert len(lines) == 2 and lines[0].startswith(f"{tmp_path / 'runs' / 'seed0'}: complete, 2 epochs")
    assert "validation-selected epoch" in lines[0] and "worst_group_auc" in lines[0]


def test_train_writes_no_wandb_folder_into_the_current_folder(tmp_path, synthetic_runs, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "runs" / "demo"
    assert main(["train", "--setting", "titanic-sex", "--method", "erm", "--out", str(out), "--no-progress"]) == 0
    assert synthetic_runs[0]["wandb_dir"] is None  # not given: the run folder holds wandb's files
    seen: dict = {}
    monkeypatch.setattr(runs, "Tracker", lambda **kwargs: _Recorder(seen, **kwargs))
    runs.execute(runs.RunSpec("titanic-sex", "erm", 3, get_protocol("standard"), HP), tmp_path / "r3",
                 progress=False, wandb_mode="disabled")
    assert Path(seen["directory"]) == tmp_path / "r3" and seen["name"] == "standard/titanic-sex/erm/seed3"
    assert not (tmp_path / "wandb").exists()


class _Recorder:
    """A Tracker that records its arguments and tracks nothing."""

    def __init__(self, seen: dict, **kwargs) -> None:
        seen.update(kwargs)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def log(self, *args, **kwargs) -> None:
        return None

    def summary(self, *args, **kwargs) -> None:
        return None


def test_a_seed_trained_after_others_in_one_process_equals_the_seed_trained_alone(tmp_path, monkeypatch) -> None:
    import pandas as pd

    monkeypatch.setattr(runs, "load_run_data", lambda spec, prepared_dir=None: synthetic_split())
    monkeypatch.setattr(runs.RunSpec, "resolve", classmethod(
        lambda cls, setting, method, seed, protocol, overrides=None: cls(setting, method, seed, get_protocol(protocol),
                                                                         HP)))
    common = ["train", "--setting", "titanic-sex", "--method", "nbs_ltr", "--protocol", "standard", "--no-progress"]
    assert main([*common, "--seeds", "0,1", "--out", str(tmp_path / "chunk" / "seed{seed}")]) == 0
    assert main([*common, "--seed", "1", "--out", str(tmp_path / "alone")]) == 0
    chunk, alone = (pd.read_csv(folder / "metrics.csv") for folder in (tmp_path / "chunk" / "seed1", tmp_path / "alone"))
    timings = [c for c in chunk if "seconds" in c]
    pd.testing.assert_frame_equal(chunk.drop(columns=timings), alone.drop(columns=timings), check_exact=True)
