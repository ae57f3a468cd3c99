"""Epoch selection rules on hand-computed examples (fairbench.reports.selection)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairbench.reports.collect import collect_runs
from fairbench.reports.selection import select_epochs
from tests.test_reports_fixtures import write_run


def _runs(root: Path, aucs: dict[int, list[float]], losses: dict[int, list[float]] | None = None,
          protocol: str = "paper", method: str = "ltr") -> None:
    for seed, auc in aucs.items():
        overrides = {"auc": auc}
        if losses:
            overrides["val_meta_loss"] = losses[seed]
        write_run(root, method=method, seed=seed, protocol=protocol, epochs=len(auc), overrides=overrides)


def test_test_seed_mean_picks_the_epoch_of_the_best_seed_mean(tmp_path: Path) -> None:
    # seed-mean AUC per epoch: 0.5, 0.7, 0.7, 0.725 -> epoch 4, although no seed peaks there
    _runs(tmp_path, {0: [0.5, 0.9, 0.6, 0.7], 1: [0.5, 0.5, 0.8, 0.75]})
    out = select_epochs(collect_runs(tmp_path), "test_seed_mean")
    assert list(out["selected_epoch"]) == [4, 4]
    assert out["auc"].tolist() == [0.7, 0.75]
    assert set(out["selection"]) == {"test_seed_mean"}


def test_test_seed_mean_ties_go_to_the_earliest_epoch(tmp_path: Path) -> None:
    _runs(tmp_path, {0: [0.5, 0.8, 0.6, 0.8], 1: [0.5, 0.6, 0.8, 0.6]})  # means .5 .7 .7 .7
    assert set(select_epochs(collect_runs(tmp_path), "test_seed_mean")["selected_epoch"]) == {2}


def test_test_seed_mean_is_per_configuration(tmp_path: Path) -> None:
    _runs(tmp_path, {0: [0.5, 0.9, 0.6], 1: [0.5, 0.8, 0.6]}, method="ltr")
    _runs(tmp_path, {0: [0.9, 0.5, 0.6], 1: [0.8, 0.5, 0.6]}, method="erm")
    out = select_epochs(collect_runs(tmp_path), "test_seed_mean")
    assert dict(zip(out["method"], out["selected_epoch"])) == {"erm": 1, "ltr": 2}


def test_val_loss_picks_each_runs_lowest_validation_loss_earliest_on_ties(tmp_path: Path) -> None:
    _runs(tmp_path, {0: [0.5, 0.6, 0.7, 0.8], 1: [0.5, 0.6, 0.7, 0.8]},
          losses={0: [0.9, 0.4, 0.6, 0.5], 1: [0.9, 0.8, 0.3, 0.3]})
    out = select_epochs(collect_runs(tmp_path), "val_loss")
    assert dict(zip(out["seed"], out["selected_epoch"])) == {0: 2, 1: 3}
    assert dict(zip(out["seed"], out["auc"])) == {0: 0.6, 1: 0.7}


def test_last_picks_the_final_epoch(tmp_path: Path) -> None:
    _runs(tmp_path, {0: [0.9, 0.1, 0.2]})
    out = select_epochs(collect_runs(tmp_path), "last")
    assert list(out["selected_epoch"]) == [3] and list(out["auc"]) == [0.2]


def test_default_rule_follows_each_protocol(tmp_path: Path) -> None:
    aucs = {0: [0.5, 0.9, 0.6], 1: [0.5, 0.9, 0.6]}
    losses = {0: [0.1, 0.5, 0.6], 1: [0.1, 0.5, 0.6]}
    _runs(tmp_path, aucs, losses, protocol="paper")
    _runs(tmp_path, aucs, losses, protocol="standard")
    out = select_epochs(collect_runs(tmp_path))
    chosen = out.groupby("protocol")["selected_epoch"].unique().map(list).to_dict()
    assert chosen == {"paper": [2], "standard": [1]}
    assert dict(zip(out["protocol"], out["selection"])) == {"paper": "test_seed_mean", "standard": "val_loss"}


def test_bad_inputs(tmp_path: Path) -> None:
    _runs(tmp_path, {0: [0.5, 0.6]}, losses={0: [float("nan"), float("nan")]})
    frame = collect_runs(tmp_path)
    with pytest.raises(ValueError, match="unknown epoch selection"):
        select_epochs(frame, "best_test")
    with pytest.raises(ValueError, match="val_meta_loss"):
        select_epochs(frame, "val_loss")
    with pytest.raises(ValueError, match="no runs"):
        select_epochs(frame.iloc[0:0], "last")
