"""The training loop and run files: determinism, every method, NaN handling, atomic and safe outputs."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from fairbench.runs import execute as runs
from fairbench.data import Part
from fairbench.hparams import HyperParams
from fairbench.method.meta import ValidationSet
from fairbench.evaluation.protocols import get_protocol
from fairbench.registry import available_methods, build_method
from fairbench.training.init import initial_params
from fairbench.training.loop import train
from fairbench.training.step import NonFiniteLossError
from tests.helpers import synthetic_split

HP = HyperParams(lr=0.05, dropout=0.2, batch_size=16, epochs=3, bargain_epochs=2, val_per_cell=2)
TIMING = {"epoch_seconds"}


def _run(method: str, seed: int = 0, protocol: str = "standard", hp: HyperParams = HP, data=None,
         manual_backprop: bool = True):
    data = data or synthetic_split()
    va = data.val.to_torch()
    val = ValidationSet.build(va.X, va.y, va.group, data.n_groups)
    proto = get_protocol(protocol)
    return train(data, build_method(method, hp, proto, val), hp, proto, seed, progress=False,
                 manual_backprop=manual_backprop)


def _val_of(data) -> ValidationSet:
    va = data.val.to_torch()
    return ValidationSet.build(va.X, va.y, va.group, data.n_groups)


def _numbers(rows):
    """Rows without timings, NaN replaced by a marker so that equal runs compare equal."""
    return [{k: ("nan" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()
             if k not in TIMING} for row in rows]


@pytest.mark.parametrize("method", available_methods())
def test_every_method_trains_and_reports_finite_metrics(method: str) -> None:
    trace = _run(method)
    assert len(trace.rows) == HP.epochs and trace.steps == HP.epochs * (96 // 16)
    last = trace.rows[-1]
    for key in ("auc", "score_auc", "worst_group_auc", "group_auc_gap", "tpr_gap", "auc/g0", "auc/g1",
                "val_meta_loss", "pareto_improvement_rate", "val_cell_loss_after/g1|y=1"):
        assert math.isfinite(last[key]), key
    meta = build_method(method, HP, get_protocol("standard"), _val_of(synthetic_split())).uses_meta
    assert math.isfinite(last["alignment_rate"]) == meta
    assert math.isfinite(last["nbs_solvable_rate"]) == meta
    assert trace.meta_steps == (trace.steps if meta else 0)


def test_training_learns_the_synthetic_task() -> None:
    hp = dataclasses.replace(HP, epochs=15)
    trace = _run("erm", hp=hp)
    assert trace.rows[-1]["score_auc"] > 0.8


@pytest.mark.parametrize("method", ["erm", "nbs_ltr", "pcgrad_forml", "group_dro"])
def test_same_seed_same_numbers(method: str) -> None:
    assert _numbers(_run(method, seed=3).rows) == _numbers(_run(method, seed=3).rows)


def test_different_seeds_differ() -> None:
    assert _numbers(_run("nbs_ltr", seed=0).rows) != _numbers(_run("nbs_ltr", seed=1).rows)


@pytest.mark.parametrize("protocol", ["paper", "standard"])
def test_init_follows_the_seed_under_both_protocols(protocol: str) -> None:
    proto = get_protocol(protocol)
    assert not torch.equal(initial_params(5, 0, proto).w1, initial_params(5, 7, proto).w1)
    assert torch.equal(initial_params(5, 7, proto).w1, initial_params(5, 7, proto).w1)


def test_two_stage_schedule_in_the_rows() -> None:
    stages = [row["stage"] for row in _run("nbs_meta_gdro", protocol="paper").rows]
    assert stages == [1.0, 2.0, 2.0]  # paper: bargain while epoch < T = 2
    stages = [row["stage"] for row in _run("nbs_meta_gdro", protocol="standard").rows]
    assert stages == [1.0, 1.0, 2.0]  # standard: T epochs


@pytest.mark.parametrize("method", ["ltr", "nbs_ltr", "nbs_forml"])
def test_hypergradient_backends_give_the_same_training(method: str) -> None:
    fast = _run(method, hp=dataclasses.replace(HP, hypergradient_backend="factorised")).rows
    slow = _run(method, hp=dataclasses.replace(HP, hypergradient_backend="autograd")).rows
    for a, b in zip(fast, slow):  # float32 sums in another order: losses agree to ~1e-6 after 18 steps
        for key in ("auc", "worst_group_auc", "alignment_rate", "applied_alignment_rate"):
            assert a[key] == b[key], key
        for key in ("score_auc", "train_loss", "val_meta_loss"):
            assert abs(a[key] - b[key]) <= 1e-5, (key, a[key], b[key])


@pytest.mark.parametrize("method", ["erm", "dro", "group_dro", "reweighing", "ltr", "nbs_ltr", "mgda_meta_gdro"])
@pytest.mark.parametrize("protocol", ["paper", "standard"])
def test_hand_written_real_step_trains_exactly_like_autograd(method: str, protocol: str) -> None:
    fast = _run(method, protocol=protocol).rows
    slow = _run(method, protocol=protocol, manual_backprop=False).rows
    assert _numbers(fast) == _numbers(slow)


def test_nan_loss_stops_the_run_with_a_clear_error() -> None:
    data = synthetic_split()
    X = data.train.X.copy()
    X[3, 1] = np.nan
    bad = dataclasses.replace(data, train=dataclasses.replace(data.train, X=X))
    with pytest.raises(NonFiniteLossError, match="non-finite training loss .* lower the learning rate"):
        _run("erm", data=bad)


def test_batch_larger_than_training_set_is_an_error() -> None:
    with pytest.raises(ValueError, match="batch_size 512 exceeds the 96 training rows"):
        _run("erm", hp=dataclasses.replace(HP, batch_size=512))


@pytest.fixture
def synthetic_runs(monkeypatch):
    """Make ``runs.execute`` train on the synthetic split instead of a real setting."""
    monkeypatch.setattr(runs, "load_run_data", lambda spec, prepared_dir=None: synthetic_split())


def _spec(**overrides):
    return runs.RunSpec(setting="titanic-sex", method="nbs_ltr", seed=0, protocol=get_protocol("standard"),
                        hparams=dataclasses.replace(HP, **overrides))


def test_execute_writes_metrics_and_run_file(tmp_path, synthetic_runs) -> None:
    out = runs.execute(_spec(), tmp_path / "run", wandb_mode="disabled", progress=False)
    frame = pd.read_csv(out / "metrics.csv")
    record = json.loads((out / "run.json").read_text())
    assert list(frame["epoch"]) == [1, 2, 3]
    assert record["status"] == "complete" and record["steps"] == 18 and record["meta_steps"] == 18
    assert record["config"]["hparams"]["lr"] == HP.lr and record["config"]["protocol"]["name"] == "standard"
    assert record["versions"]["torch"] == torch.__version__
    assert record["summary"]["last_epoch"]["auc"] == pytest.approx(frame["auc"].iloc[-1])
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_execute_refuses_to_overwrite_a_finished_run(tmp_path, synthetic_runs) -> None:
    runs.execute(_spec(), tmp_path / "run", wandb_mode="disabled", progress=False)
    before = (tmp_path / "run" / "metrics.csv").read_bytes()
    with pytest.raises(FileExistsError, match="holds a finished run; refusing to overwrite"):
        runs.execute(_spec(lr=0.01), tmp_path / "run", wandb_mode="disabled", progress=False)
    assert (tmp_path / "run" / "metrics.csv").read_bytes() == before
    runs.execute(_spec(lr=0.01), tmp_path / "run", wandb_mode="disabled", progress=False, force=True)
    assert (tmp_path / "run" / "metrics.csv").read_bytes() != before


def test_failed_run_is_marked_failed_and_leaves_no_metrics(tmp_path, monkeypatch) -> None:
    data = synthetic_split()
    X = data.train.X.copy()
    X[:, 0] = np.inf
    bad = dataclasses.replace(data, train=dataclasses.replace(data.train, X=X))
    monkeypatch.setattr(runs, "load_run_data", lambda spec, prepared_dir=None: bad)
    with pytest.raises(NonFiniteLossError):
        runs.execute(_spec(), tmp_path / "run", wandb_mode="disabled", progress=False)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "failed" and "non-finite training loss" in record["error"]
    assert not (tmp_path / "run" / "metrics.csv").exists()


def test_part_is_the_data_layer_type() -> None:
    assert isinstance(synthetic_split().train, Part)
