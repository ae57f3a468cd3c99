"""Hyper-parameters, protocols, workflow configuration and wandb tracking."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fairbench.data.hyperparams import reference_hyperparams
from fairbench.hparams import REFERENCE_HYPERPARAMS, parse_override
from fairbench.evaluation.protocols import PROTOCOLS, get_protocol
from fairbench.runs.tracking import Tracker, resolve_wandb_mode
from fairbench.pipeline.config import ALL_EPOCHS, ConfigError, check_config, job_hyperparams, variant_overrides

ROOT = Path(__file__).resolve().parent.parent


def test_reference_table_of_method_md() -> None:
    assert len(REFERENCE_HYPERPARAMS) == 7
    hp = reference_hyperparams("default_credit-sex")
    assert (hp.lr, hp.dropout, hp.batch_size, hp.epochs, hp.bargain_epochs, hp.val_per_cell) == (1e-3, 0.5, 512, 100, 100, 4)
    hp = reference_hyperparams("us_crime-blackgt6pct")
    assert (hp.lr, hp.batch_size, hp.bargain_epochs, hp.val_per_cell) == (1e-4, 32, 15, 1)
    assert (hp.momentum, hp.weight_decay) == (0.9, 5e-4)


def test_override_validation_names_the_problem() -> None:
    hp = reference_hyperparams("titanic-sex")
    assert hp.override(lr=0.1).lr == 0.1
    with pytest.raises(ValueError, match=r"unknown hyper-parameter\(s\) \['learning_rate'\]"):
        hp.override(learning_rate=0.1)
    with pytest.raises(ValueError, match="dropout must be in"):
        hp.override(dropout=1.5)
    with pytest.raises(ValueError, match="weight_norm must be 'l2' or 'sum'"):
        hp.override(weight_norm="l1")
    assert parse_override("epochs=3") == ("epochs", 3)
    with pytest.raises(ValueError, match="epochs takes a int"):
        parse_override("epochs=three")
    with pytest.raises(ValueError, match="unknown setting 'adult'"):
        reference_hyperparams("adult")


def test_protocol_switches() -> None:
    paper, standard = get_protocol("paper"), get_protocol("standard")
    assert paper.stage1_epochs(15) == 14 and standard.stage1_epochs(15) == 15 and paper.stage1_epochs(0) == 0
    differing = {k for k, v in paper.to_dict().items() if standard.to_dict()[k] != v} - {"name"}
    assert differing == {"split", "test_with_replacement", "scaler_fit", "bargain_through_T",
                         "ltr_nbs_fallback", "epoch_selection"}
    readme = (ROOT / "README.md").read_text()
    assert all(f"`{switch}`" in readme for switch in differing | {"headline_auc", "init"})  # documented in one place
    with pytest.raises(ValueError, match="valid protocols: paper, standard"):
        get_protocol("strict")
    assert set(PROTOCOLS) == {"paper", "standard"}


def _config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_default_config_grid() -> None:
    jobs = check_config(_config())
    main = [j for j in jobs if j.experiment == "main"]
    assert len(main) == 2 * len(_config()["experiments"]["main"]["settings"]) * 8
    assert {j.variant for j in main} == {"default"}
    variants = {j.variant for j in jobs if j.experiment == "ablation_T"}
    assert variants == {"T0", "T5", "T15", "Tall"}
    assert job_hyperparams(next(j for j in jobs if j.variant == "Tall"), _config()).bargain_epochs == ALL_EPOCHS
    assert check_config(yaml.safe_load((ROOT / "config" / "quick.yaml").read_text()))


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda c: c.update(seeds=[0, "one"]), "config key 'seeds.1'"),
    (lambda c: c.update(colour="red"), "'colour' was unexpected"),
    (lambda c: c["experiments"]["main"].update(protocols=["paper", "strict"]), "config key 'experiments.main.protocols.1'"),
    (lambda c: c["experiments"]["main"]["settings"].append("adult-age"), "unknown setting 'adult-age'"),
    (lambda c: c["experiments"]["main"]["methods"].append("nbs_dro"), "unknown method 'nbs_dro'"),
    (lambda c: c.update(overrides={"lr": -1.0}), "config key 'overrides': invalid hyper-parameters: lr must be > 0"),
    (lambda c: c.update(overrides={"epochs": 2.5}), "config key 'overrides.epochs': expected an integer, got 2.5"),
    (lambda c: c.update(overrides={"epoch": 3}), "config key 'overrides': unknown hyper-parameter"),
    (lambda c: c["experiments"]["ablation_T"].update(val_per_cell=[1]), "not both"),
])
def test_bad_config_names_the_key(mutate, message: str) -> None:
    config = copy.deepcopy(_config())
    mutate(config)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_config(config)


def test_variant_names() -> None:
    assert variant_overrides("default") == {}
    assert variant_overrides("T5") == {"bargain_epochs": 5}
    assert variant_overrides("k3") == {"val_per_cell": 3}
    with pytest.raises(ConfigError, match="unknown run variant"):
        variant_overrides("x5")


def test_wandb_mode_is_always_explicit(monkeypatch) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert resolve_wandb_mode() == "offline"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_wandb_mode() == "disabled" and resolve_wandb_mode("online") == "online"
    with pytest.raises(ValueError, match="unknown wandb mode 'dryrun'"):
        resolve_wandb_mode("dryrun")


@pytest.mark.slow
def test_offline_tracking_writes_a_local_run(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    with Tracker(name="t", group="g", job_type="train", tags=["paper"], config={"a": 1},
                 directory=tmp_path) as tracker:
        tracker.log({"auc": 0.5}, step=1)
        tracker.summary({"last/auc": 0.5})
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))


def test_publish_report_records_what_it_logged(tmp_path) -> None:
    from fairbench.reports.publish import publish_report

    (tmp_path / "tables").mkdir()
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "tables" / "main_paper.csv", index=False)
    record = publish_report(tmp_path / "tables", [tmp_path], tmp_path / "record.json", mode="disabled")
    assert record["tables"] == ["tables/main_paper"] and record["figures"] == []
    assert json.loads((tmp_path / "record.json").read_text())["wandb_mode"] == "disabled"
    with pytest.raises(FileNotFoundError, match="no tables"):
        publish_report(tmp_path / "figures_missing", [], tmp_path / "r2.json", mode="disabled")
