"""Nothing lost, nothing misleading: `fairbench train` checks its inputs and its output folder before
training, a failed or forced rerun never leaves an earlier run's files behind, and a write that fails
after training leaves the earlier run as it was."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import socket
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairbench import io as fb_io
from fairbench.runs import execute as runs
from fairbench.cli import main
from fairbench.io import OutputError, StagedFiles, check_writable_folder
from fairbench.runs.tracking import Tracker, TrackingError, check_wandb_mode
from fairbench.training.step import NonFiniteLossError
from tests.helpers import synthetic_split

SMALL = ["--batch-size", "16", "--epochs", "2", "--no-progress", "--wandb-mode", "disabled"]


@pytest.fixture
def trained(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Train on the synthetic split; the list records every run that started loading its data."""
    started: list[str] = []

    def load(spec: runs.RunSpec, prepared_dir: object = None):  # type: ignore[no-untyped-def]
        started.append(spec.method)
        return synthetic_split()

    monkeypatch.setattr(runs, "load_run_data", load)
    return started


def _train(out: str | Path, *extra: str, method: str = "erm", protocol: str = "standard") -> int:
    return main(["train", "--setting", "titanic-sex", "--method", method, "--protocol", protocol,
                 "--out", str(out), *SMALL, *extra])


def _one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("fairbench train: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _nan_data():  # type: ignore[no-untyped-def]
    data = synthetic_split()
    X = data.train.X.copy()
    X[:, 0] = np.inf
    return dataclasses.replace(data, train=dataclasses.replace(data.train, X=X))


# item 2: a failed or forced rerun keeps nothing of the earlier run

def test_forced_rerun_that_fails_removes_the_earlier_metrics_and_predictions(tmp_path, trained, monkeypatch,
                                                                            capsys) -> None:
    out = tmp_path / "run"
    assert _train(out) == 0
    assert {"metrics.csv", "predictions.npz", "run.json"} <= set(_files(out))
    monkeypatch.setattr(runs, "load_run_data", lambda spec, prepared_dir=None: _nan_data())
    assert _train(out, "--force") == 1
    assert "non-finite training loss" in capsys.readouterr().err
    assert json.loads((out / "run.json").read_text())["status"] == "failed"
    assert sorted(p.name for p in out.iterdir()) == ["run.json"]  # no metrics.csv, no predictions.npz


def test_forced_rerun_replaces_every_file_and_leaves_no_temporaries(tmp_path, trained) -> None:
    out = tmp_path / "run"
    assert _train(out) == 0
    (out / "predictions.npz").write_bytes(b"an earlier run's predictions")
    before = _files(out)
    assert _train(out, "--force", "--lr", "0.01") == 0
    after = _files(out)
    assert set(after) == {"metrics.csv", "predictions.npz", "run.json"}
    assert all(after[name] != before[name] for name in after)
    assert json.loads(after["run.json"])["config"]["hparams"]["lr"] == 0.01
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


# item 4: the output folder is checked before training

def test_out_is_an_existing_file(tmp_path, trained, capsys) -> None:
    (tmp_path / "taken").write_text("x")
    assert _train(tmp_path / "taken") == 2
    _one_line_error(capsys, str(tmp_path / "taken"), "is a file")
    assert trained == []


def test_out_below_a_file(tmp_path, trained, capsys) -> None:
    (tmp_path / "taken").write_text("x")
    assert _train(tmp_path / "taken" / "sub" / "run") == 2
    _one_line_error(capsys, f"lies below {tmp_path / 'taken'}, which is a file")
    assert trained == []


def test_out_in_a_read_only_folder(tmp_path, trained, capsys, monkeypatch) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: make the kernel's refusal explicit
        real = fb_io.tempfile.mkstemp

        def refuse(*args, dir=None, **kwargs):  # type: ignore[no-untyped-def]
            if dir is not None and Path(dir) == locked:
                raise PermissionError(errno.EACCES, "Permission denied", str(dir))
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(fb_io.tempfile, "mkstemp", refuse)
    try:
        assert _train(locked / "run") == 2
        _one_line_error(capsys, f"cannot write into {locked}", "Permission denied")
        assert trained == [] and list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_empty_out_is_refused(tmp_path, trained, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _train("") == 2
    _one_line_error(capsys, "--out is empty")
    assert trained == [] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", [["--seed", "-1"], ["--seeds", "0,-2"]])
def test_a_negative_seed_is_refused(tmp_path, trained, capsys, option) -> None:
    assert main(["train", "--setting", "titanic-sex", "--method", "erm", "--protocol", "standard",
                 "--out", str(tmp_path / "s{seed}"), *option, *SMALL]) == 2
    _one_line_error(capsys, "seeds are integers >= 0")
    assert trained == []


def test_every_seed_folder_is_checked_before_the_first_run(tmp_path, trained, capsys) -> None:
    (tmp_path / "s1").write_text("x")
    assert main(["train", "--setting", "titanic-sex", "--method", "erm", "--protocol", "standard", "--seeds", "0,1",
                 "--out", str(tmp_path / "s{seed}"), *SMALL]) == 2
    _one_line_error(capsys, str(tmp_path / "s1"))
    assert trained == []


def test_a_write_failure_after_training_keeps_the_finished_run(tmp_path, trained, capsys, monkeypatch) -> None:
    out = tmp_path / "run"
    assert _train(out) == 0
    before = _files(out)

    def disk_full(self, path=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        Path(path).write_bytes(b"half a table")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", disk_full)
    assert _train(out, "--force", "--lr", "0.01") == 2
    _one_line_error(capsys, f"{out}: could not write the run's files (No space left on device)", "unchanged")
    assert _files(out) == before
    assert sorted(p.name for p in out.iterdir()) == sorted(before)  # no staged leftovers


def test_staged_files_replace_together_or_not_at_all(tmp_path) -> None:
    (tmp_path / "a.csv").write_text("old a")
    (tmp_path / "b.npz").write_text("old b")
    (tmp_path / "run.json").write_text("old record")
    with StagedFiles(tmp_path) as staged:
        staged.path("a.csv").write_text("new a")
        staged.path("run.json").write_text("new record")
    assert _files(tmp_path) == {"a.csv": b"old a", "b.npz": b"old b", "run.json": b"old record"}  # no commit
    with StagedFiles(tmp_path) as staged:
        staged.path("a.csv").write_text("new a")
        staged.path("run.json").write_text("new record")
        staged.commit(replaces=("a.csv", "b.npz"), last=("run.json",))
    assert _files(tmp_path) == {"a.csv": b"new a", "run.json": b"new record"}  # b.npz was the old run's


def test_check_writable_folder_creates_nothing(tmp_path) -> None:
    assert check_writable_folder(tmp_path / "x" / "y") == tmp_path / "x" / "y"
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="empty path"):
        check_writable_folder("")


# item 5: an option the paper protocol ignores is refused, never recorded

@pytest.mark.parametrize("option", [["--val-per-cell", "3"], ["--set", "val_per_cell=3"]])
def test_paper_protocol_refuses_another_val_per_cell(tmp_path, trained, capsys, option) -> None:
    assert _train(tmp_path / "run", *option, protocol="paper") == 2
    _one_line_error(capsys, "val_per_cell=3 cannot be used with the paper protocol", "the paper split is fixed")
    assert trained == [] and not (tmp_path / "run").exists()


def test_paper_protocol_accepts_its_own_val_per_cell_and_standard_any(tmp_path, trained) -> None:
    assert _train(tmp_path / "paper", "--val-per-cell", "1", protocol="paper") == 0
    assert _train(tmp_path / "standard", "--val-per-cell", "3") == 0
    record = json.loads((tmp_path / "standard" / "run.json").read_text())
    assert record["config"]["hparams"]["val_per_cell"] == 3


@pytest.mark.mirror
def test_the_split_code_refuses_it_too(prepared_small) -> None:
    spec = runs.RunSpec.resolve("titanic-sex", "erm", 0, "standard", {"val_per_cell": 3})
    paper = dataclasses.replace(spec, protocol=runs.get_protocol("paper"))  # built past resolve()
    with pytest.raises(ValueError, match="the paper split is fixed"):
        runs.load_run_data(paper, prepared_small)
    assert runs.load_run_data(dataclasses.replace(paper, hparams=dataclasses.replace(
        paper.hparams, val_per_cell=1)), prepared_small).val.y.shape == (4,)


def test_an_epoch_count_beyond_the_limit_via_set_is_refused(tmp_path, trained, capsys) -> None:
    assert main(["train", "--setting", "titanic-sex", "--method", "erm", "--protocol", "standard", "--out",
                 str(tmp_path / "run"), "--set", "epochs=99999999999999999999", "--no-progress"]) == 2
    _one_line_error(capsys, "epochs must be at most 100000")
    assert trained == []


# item 8: bad hyper-parameters and wandb settings stop before any work

@pytest.mark.parametrize("option, problem", [
    (["--lr", "nan"], "lr must be a finite number (got nan)"),
    (["--momentum", "nan"], "momentum must be a finite number (got nan)"),
    (["--set", "lr=inf"], "lr must be a finite number (got inf)"),
    (["--set", "momentum=nan"], "momentum must be a finite number"),
    (["--weight-decay=-1e-3"], "weight_decay and cagrad_c must be >= 0"),
    (["--momentum", "1.5"], "momentum must be in [0, 1)"),
    (["--group-dro-step-size=-inf"], "group_dro_step_size must be a finite number"),
    (["--epochs", "99999999999999999999"], "epochs must be at most 100000"),
    (["--set", "dropout=nan"], "dropout must be a finite number"),
    (["--set", "cagrad_c=nan"], "cagrad_c must be a finite number"),
    (["--threads", "10000000"], "threads must be at most"),
])
def test_bad_hyperparameters_are_refused_up_front(tmp_path, trained, capsys, option, problem) -> None:
    assert _train(tmp_path / "run", *option) == 2
    _one_line_error(capsys, "invalid hyper-parameters", problem)
    assert trained == [] and not (tmp_path / "run").exists()


@pytest.fixture
def no_wandb_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    netrc_file = tmp_path / "netrc"
    monkeypatch.setenv("NETRC", str(netrc_file))
    return netrc_file


def test_online_wandb_without_a_key_says_what_to_do(tmp_path, trained, capsys, monkeypatch, no_wandb_key) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # importing wandb (or reaching its server) would fail
    code = main(["train", "--setting", "titanic-sex", "--method", "erm", "--protocol", "standard",
                 "--out", str(tmp_path / "run"), "--batch-size", "16", "--epochs", "2", "--wandb-mode", "online"])
    assert code == 2
    _one_line_error(capsys, "needs an API key", "wandb login", "WANDB_API_KEY", "--wandb-mode offline")
    assert trained == [] and not (tmp_path / "run").exists()


@pytest.fixture
def local_wandb_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A TCP port on 127.0.0.1 that accepts connections, as WANDB_BASE_URL (no request is ever sent)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{listener.getsockname()[1]}")
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield os.environ["WANDB_BASE_URL"]
    listener.close()


def test_an_unreachable_wandb_server_is_refused_at_once(tmp_path, trained, capsys, monkeypatch, no_wandb_key,
                                                        local_wandb_server) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert check_wandb_mode("online") == "online"  # the server answers
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{closed}")
    start = time.perf_counter()
    assert _train(tmp_path / "run", "--wandb-mode", "online") == 2
    _one_line_error(capsys, f"the wandb server does not answer (127.0.0.1:{closed}", "--wandb-mode offline")
    assert time.perf_counter() - start < 30 and trained == []


def test_a_wandb_key_from_the_environment_or_netrc_is_enough(monkeypatch, no_wandb_key, local_wandb_server) -> None:
    with pytest.raises(ValueError, match="needs an API key"):
        check_wandb_mode("online")
    no_wandb_key.write_text("machine 127.0.0.1\n  login user\n  password " + "k" * 40 + "\n")
    assert check_wandb_mode("online") == "online"
    no_wandb_key.write_text("machine other.example.org login user password secret\n")
    with pytest.raises(ValueError, match="needs an API key"):
        check_wandb_mode("online")
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert check_wandb_mode("online") == "online"
    assert check_wandb_mode("offline") == "offline"  # offline needs no key


def test_a_wandb_start_failure_is_one_clear_error(monkeypatch) -> None:
    def init(**kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("Run initialization has timed out after 90.0 sec.\nPlease try again.")

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    tracker = Tracker(name="n", group="g", job_type="train", tags=[], config={}, mode="offline")
    with pytest.raises(TrackingError, match=r"could not start the offline run \(Run initialization has timed out"):
        with tracker:
            pass


def test_a_nan_loss_still_fails_the_run_with_its_record(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(runs, "load_run_data", lambda spec, prepared_dir=None: _nan_data())
    spec = runs.RunSpec.resolve("titanic-sex", "erm", 0, "standard", {"batch_size": 16, "epochs": 2})
    with pytest.raises(NonFiniteLossError):
        runs.execute(spec, tmp_path / "run", wandb_mode="disabled", progress=False)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["run.json"]


@pytest.mark.parametrize("argv, problem", [
    (["bench", "--repeats", "0"], "fairbench bench: error: --repeats must be at least 1 (got 0)"),
    (["bench", "--threads", "0"], "fairbench bench: error: --threads must be at least 1 (got 0)"),
    (["report", "synthetic", "--starts", "0"], "fairbench report: error: --starts must be at least 1 (got 0)"),
    (["report", "synthetic", "--steps=-3"], "fairbench report: error: --steps must be at least 1 (got -3)"),
    (["report", "tables", "--root", "results/runs", "--out", " "], "fairbench report: error: --out is empty"),
])
def test_counts_that_cannot_work_are_one_line_errors(tmp_path, capsys, monkeypatch, argv, problem) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == problem + "\n" or (err.startswith(problem) and err.count("\n") == 1), err
    assert list(tmp_path.iterdir()) == []


def test_a_val_per_cell_ablation_under_the_paper_protocol_is_refused_by_the_config_check() -> None:
    import copy

    import yaml

    from fairbench.pipeline.config import ConfigError, check_config

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())
    assert check_config(copy.deepcopy(config))
    config["experiments"]["ablation_val"]["protocols"] = ["standard", "paper"]
    with pytest.raises(ConfigError, match="experiments.ablation_val.val_per_cell': the paper protocol"):
        check_config(config)


def test_the_pipeline_failure_record_removes_every_file_of_an_unfinished_run(tmp_path) -> None:
    from fairbench.pipeline.plan import record_failure

    run = tmp_path / "seed0"
    run.mkdir()
    for name in ("metrics.csv", "predictions.npz"):
        (run / name).write_text("an unfinished attempt's")
    (run / "run.json").write_text(json.dumps({"status": "running", "config": {}}))
    (tmp_path / "log").write_text("fairbench train: error: run folder x is a file\n")
    record_failure(run, setting="titanic-sex", method="erm", seed=0, protocol="standard", overrides={},
                   exit_status=2, log=tmp_path / "log")
    assert sorted(p.name for p in run.iterdir()) == ["run.json"]
    assert json.loads((run / "run.json").read_text())["status"] == "failed"


@pytest.mark.parametrize("command", [["tables"], ["figures"], ["synthetic"], ["collect"]])
def test_report_outputs_are_checked_before_the_runs_are_read(tmp_path, capsys, command) -> None:
    (tmp_path / "taken").write_text("x")
    out = tmp_path / "taken" / ("runs.parquet" if command == ["collect"] else "figures")
    runs_in = [] if command == ["synthetic"] else ["--root", str(tmp_path / "no-runs-here")]
    assert main(["report", *command, *runs_in, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fairbench report: error: output folder") and err.count("\n") == 1, err
    assert f"lies below {tmp_path / 'taken'}, which is a file" in err or f"{tmp_path / 'taken'} is a file" in err
