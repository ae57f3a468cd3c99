"""What a run leaves beside metrics.csv: the initial weights' fingerprint in run.json (seed-drawn init
under both protocols, shared by the methods of a seed) and predictions.npz (per-epoch test labels)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairbench.evaluation import metrics
from fairbench.runs import execute as runs
from fairbench.cli import main
from fairbench.hparams import HyperParams
from fairbench.runs.predictions import load_predictions
from fairbench.evaluation.protocols import get_protocol
from fairbench.training.init import initial_params, params_fingerprint
from tests.helpers import synthetic_split

HP = HyperParams(lr=0.05, dropout=0.2, batch_size=16, epochs=2, bargain_epochs=1, val_per_cell=2)


@pytest.fixture
def synthetic_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``runs.execute`` train on the synthetic split instead of a real setting."""
    monkeypatch.setattr(runs, "load_run_data", lambda spec, prepared_dir=None: synthetic_split())


def _execute(tmp_path: Path, method: str, seed: int, protocol: str = "paper") -> Path:
    spec = runs.RunSpec(setting="titanic-sex", method=method, seed=seed, protocol=get_protocol(protocol),
                        hparams=HP)
    return runs.execute(spec, tmp_path / f"{protocol}-{method}-s{seed}", wandb_mode="disabled", progress=False)


def _fingerprint(run: Path) -> str:
    return json.loads((run / "run.json").read_text())["init_fingerprint"]


def test_paper_runs_start_from_the_seed_s_weights_shared_by_every_method(tmp_path, synthetic_runs) -> None:
    prints = {(m, s): _fingerprint(_execute(tmp_path, m, s)) for m in ("erm", "nbs_ltr", "meta_gdro")
              for s in (0, 1, 2)}
    for seed in (0, 1, 2):  # common random numbers: one init per seed, whatever the method
        assert len({prints[m, seed] for m in ("erm", "nbs_ltr", "meta_gdro")}) == 1
    assert len({prints["erm", s] for s in (0, 1, 2)}) == 3  # each seed its own init
    n_features = synthetic_split().n_features
    assert prints["erm", 1] == params_fingerprint(initial_params(n_features, 1, get_protocol("paper")))
    assert len(prints["erm", 0]) == 16 and int(prints["erm", 0], 16) >= 0


def test_fingerprint_tells_weights_apart() -> None:
    params = initial_params(5, 0, get_protocol("standard"))
    assert params_fingerprint(params) == params_fingerprint(initial_params(5, 0, get_protocol("standard")))
    nudged = params._replace(b3=params.b3.clone())
    nudged.b3[0] = float(np.nextafter(np.float32(nudged.b3[0]), np.float32(1.0)))  # one ulp
    assert params_fingerprint(nudged) != params_fingerprint(params)


def _assert_labels_reproduce_metrics(run: Path, group_names: list[str]) -> None:
    """Hard-label AUC (= balanced accuracy) of each epoch's stored labels equals metrics.csv, digit for digit."""
    frame = pd.read_csv(run / "metrics.csv")
    pred = load_predictions(run / "predictions.npz")
    assert pred.epochs == len(frame) and pred.labels.shape == (len(frame), pred.n_test)
    for e, row in frame.iterrows():
        assert int(row["epoch"]) == e + 1
        ours = metrics.evaluate(pred.y, pred.labels[e].astype(float), pred.group, group_names)
        for key in ("auc", "worst_group_auc", "group_auc_gap", "tpr_gap", "f1",
                    *(f"auc/{g}" for g in group_names)):
            written = float(f"{ours[key]:.10g}")
            assert written == row[key] or (np.isnan(written) and np.isnan(row[key])), (e + 1, key)


@pytest.mark.parametrize("method", ["erm", "nbs_ltr"])
def test_predictions_reproduce_every_epoch_s_auc(tmp_path, synthetic_runs, method: str) -> None:
    run = _execute(tmp_path, method, 0, protocol="standard")
    data = synthetic_split()
    pred = load_predictions(run / "predictions.npz")
    np.testing.assert_array_equal(pred.y, data.test.y)
    np.testing.assert_array_equal(pred.group, data.test.group)
    assert json.loads((run / "run.json").read_text())["predictions"] == "predictions.npz"
    _assert_labels_reproduce_metrics(run, data.group_names)


@pytest.mark.mirror
@pytest.mark.parametrize("protocol", ["paper", "standard"])
def test_a_real_run_keeps_predictions_and_its_init_fingerprint(tmp_path, prepared_small, protocol: str) -> None:
    prints = []
    for method in ("erm", "nbs_ltr"):
        out = tmp_path / method
        assert main(["train", "--setting", "titanic-sex", "--method", method, "--seed", "3", "--protocol", protocol,
                     "--out", str(out), "--prepared", str(prepared_small), "--epochs", "3", "--no-progress",
                     "--wandb-mode", "disabled"]) == 0
        record = json.loads((out / "run.json").read_text())
        pred = load_predictions(out / "predictions.npz")
        assert pred.n_test == record["data"]["n_test"] == 36 and pred.epochs == 3
        assert np.bincount(pred.group * 2 + pred.y).tolist() == [9, 9, 9, 9]  # cell-balanced test set
        _assert_labels_reproduce_metrics(out, record["data"]["groups"])
        prints.append(record["init_fingerprint"])
    assert prints[0] == prints[1]


def test_an_unknown_init_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown init 'chained'; valid: seed"):
        dataclasses.replace(get_protocol("paper"), init="chained")
