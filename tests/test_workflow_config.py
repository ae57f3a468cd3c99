"""The workflow configuration: coercion of --config strings, per-setting seeds, run records."""

from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path

import pytest
import yaml

from fairbench.pipeline.config import ConfigError, TrainJob, check_config, coerce_hyperparam, job_hyperparams
from fairbench.pipeline.plan import check, record_failure, rerun_command, stale_message, start_message, survey

ROOT = Path(__file__).resolve().parent.parent
SMALL = ("student_por-sex", "titanic-sex", "us_crime-blackgt6pct")


def _config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_command_line_strings_are_coerced() -> None:
    # what Snakemake hands over for `--config seeds=[0,1] overrides='{epochs: 10}'`
    config = _config()
    config.update(seeds=["0", "1"], overrides={"epochs": "10"}, threads_per_job="2")
    jobs = check_config(config)
    assert config["seeds"] == [0, 1] and config["overrides"] == {"epochs": 10} and config["threads_per_job"] == 2
    assert job_hyperparams(jobs[0], config).epochs == 10
    big = next(j for j in jobs if j.setting == "adult-sex" and j.experiment == "main")
    assert big.seeds == (0, 1)


@pytest.mark.parametrize(("value", "expected"), [("1.0e9", 1e9), (2, 2.0), ("0.5", 0.5)])
def test_float_overrides_are_coerced(value, expected) -> None:
    assert coerce_hyperparam("lr", value, "overrides") == expected
    assert isinstance(coerce_hyperparam("lr", value, "overrides"), float)


@pytest.mark.parametrize(("value", "expected"), [("2", 2), (2.0, 2), (3, 3)])
def test_integer_overrides_are_coerced_when_exact(value, expected) -> None:
    result = coerce_hyperparam("epochs", value, "overrides")
    assert result == expected and type(result) is int


@pytest.mark.parametrize(("key", "value", "message"), [
    ("epochs", 2.5, "config key 'overrides.epochs': expected an integer, got 2.5"),
    ("epochs", "2.5", "config key 'overrides.epochs': expected an integer, got '2.5'"),
    ("epochs", True, "config key 'overrides.epochs': expected an integer"),
    ("lr", "fast", "config key 'overrides.lr': expected a number, got 'fast'"),
    ("lr", "nan", "config key 'overrides.lr': expected a number"),
    ("weight_norm", 3, "config key 'overrides.weight_norm': expected a string"),
])
def test_inexact_overrides_are_refused_naming_key_and_type(key, value, message) -> None:
    config = _config()
    config["overrides"] = {key: value}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        check_config(config)


def test_yaml_file_overrides_read_as_strings_are_coerced() -> None:
    config = yaml.safe_load("results_dir: r\nseeds: [0]\noverrides: {lr: 1.0e9, epochs: '2'}\n"
                            "experiments: {e: {protocols: [paper], settings: [titanic-sex], methods: [erm]}}\n")
    assert config["overrides"]["lr"] == "1.0e9"  # PyYAML's reading
    check_config(config)
    assert config["overrides"] == {"lr": 1e9, "epochs": 2}


def test_default_grid_has_25_seeds_on_the_small_settings_only() -> None:
    jobs = check_config(_config())
    main_standard = [j for j in jobs if j.experiment == "main" and j.protocol == "standard"]
    assert {j.seeds for j in main_standard if j.setting in SMALL} == {tuple(range(25))}
    assert {j.seeds for j in main_standard if j.setting not in SMALL} == {tuple(range(5))}
    assert {j.seeds for j in jobs if j.protocol == "paper"} == {tuple(range(5))}
    assert {j.seeds for j in jobs if j.experiment != "main"} == {tuple(range(5))}
    # 20 more seeds for each of the 3 small settings x 8 methods; every other configuration keeps 5
    assert sum(len(j.seeds) for j in jobs) == 5 * len(jobs) + 3 * 8 * 20


def test_seed_ranges_and_experiment_seeds() -> None:
    config = _config()
    config["seeds"] = "0-2"
    config["experiments"]["comparisons"]["seeds"] = [7]
    jobs = check_config(config)
    assert {j.seeds for j in jobs if j.experiment == "comparisons"} == {(7,)}
    assert {j.seeds for j in jobs if j.experiment == "ablation_T"} == {(0, 1, 2)}
    config = _config()
    config["seeds"] = ["-1"]  # `--config seeds=[-1]`: the error names the value's real problem
    with pytest.raises(ConfigError, match="config key 'seeds.0': -1 is less than the minimum of 0"):
        check_config(config)
    for bad, key in (("2-1", "seeds"), ("a-b", "seeds")):
        config = _config()
        config["seeds"] = bad
        with pytest.raises(ConfigError, match=f"config key '{key}'"):
            check_config(config)
    config = _config()
    config["experiments"]["main"]["seeds_for"][0]["settings"] = ["adult-age"]
    with pytest.raises(ConfigError, match=r"seeds_for\.0\.settings': unknown setting 'adult-age'"):
        check_config(config)


def test_experiment_overrides_apply_after_the_global_ones() -> None:
    config = _config()
    config["overrides"] = {"epochs": 3}
    config["experiments"]["comparisons"]["overrides"] = {"lr": "0.5"}
    jobs = check_config(config)
    hp = job_hyperparams(next(j for j in jobs if j.experiment == "comparisons"), config)
    assert (hp.epochs, hp.lr) == (3, 0.5)
    assert job_hyperparams(next(j for j in jobs if j.experiment == "main"), config).lr != 0.5
    config["experiments"]["comparisons"]["overrides"] = {"lr": -1}
    with pytest.raises(ConfigError, match="config key 'experiments.comparisons.overrides': invalid"):
        check_config(config)


def test_paths_with_braces_are_refused() -> None:
    config = _config()
    config["results_dir"] = "out/{x}"
    with pytest.raises(ConfigError, match="config key 'results_dir'.*wildcard"):
        check_config(config)


def test_paper_grid_config_is_the_280_paper_runs() -> None:
    config = yaml.safe_load((ROOT / "config" / "paper_grid.yaml").read_text())
    jobs = check_config(config)
    assert {j.protocol for j in jobs} == {"paper"} and sum(len(j.seeds) for j in jobs) == 280


def _write_run(folder: Path, status: str, hparams: dict | None = None) -> None:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"status": status, "config": {"hparams": hparams or {}}}))


def test_survey_counts_records_and_finds_runs_of_other_hyperparameters(tmp_path) -> None:
    config = yaml.safe_load("results_dir: r\nseeds: [0, 1, 2]\n"
                            "experiments: {e: {protocols: [paper], settings: [titanic-sex], methods: [erm]}}\n")
    jobs = check_config(config)
    job = jobs[0]
    _write_run(tmp_path / job.run_folder(0), "complete", {"epochs": 50, "threads": 4})
    _write_run(tmp_path / job.run_folder(1), "failed")
    plan = survey(jobs, tmp_path, config)
    assert (plan.runs, plan.count("complete"), plan.count("failed"), plan.count("missing")) == (3, 1, 1, 1)
    assert not plan.stale
    assert "to train now: 1 runs" in start_message(plan, "r", ["c.yaml"])
    assert start_message(plan, "r", ["/x/config/config.yaml"]).endswith(
        "fresh folder: snakemake --cores all --config results_dir=rerun")
    assert start_message(plan, "r", ["/x/config/declared.yaml"]).endswith(
        "snakemake --cores all --configfile /x/config/declared.yaml --replace-workflow-config --config results_dir=rerun")
    assert rerun_command(["config/config.yaml", "mine.yaml"]) == (
        "snakemake --cores all --configfile mine.yaml --config results_dir=rerun")
    config["overrides"] = {"epochs": 10}
    plan = survey(check_config(config), tmp_path, config)
    assert list(plan.stale) == [str(tmp_path / job.run_folder(0))]
    assert "epochs 50 (configuration: 10)" in stale_message(plan, "r")


def test_failure_record_keeps_the_error_and_drops_old_metrics(tmp_path) -> None:
    run = tmp_path / "seed0"
    run.mkdir()
    (run / "metrics.csv").write_text("epoch,auc\n1,0.9\n")
    log = tmp_path / "train.log"
    log.write_text("fairbench train: error: batch_size 600 exceeds the 577 training rows of student_por-sex\n")
    record_failure(run, setting="student_por-sex", method="erm", seed=0, protocol="standard",
                   overrides={"batch_size": 600}, exit_status=2, log=log)
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "failed" and "exceeds the 577 training rows" in record["error"]
    assert record["config"]["setting"] == "student_por-sex" and record["config"]["seed"] == 0
    assert not (run / "metrics.csv").exists()
    # a record written by the training command itself (a NaN loss) is kept as it is
    (run / "run.json").write_text(json.dumps({"status": "failed", "error": "non-finite loss", "config": {}}))
    record_failure(run, setting="student_por-sex", method="erm", seed=0, protocol="standard", overrides={},
                   exit_status=1, log=log)
    assert json.loads((run / "run.json").read_text())["error"] == "non-finite loss"


def test_end_check_lists_failed_runs_and_fails(tmp_path, capsys) -> None:
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "failed_runs.csv").write_text("run_dir,status,error\nr/runs/a/seed0,failed,non-finite loss\n")
    assert check(tables, tmp_path / "status.txt") == 1
    out = capsys.readouterr().out
    assert "1 run(s) failed" in out and "r/runs/a/seed0: failed: non-finite loss" in out
    assert not (tmp_path / "status.txt").exists()
    (tables / "failed_runs.csv").write_text("run_dir,status,error\n")
    assert check(tables, tmp_path / "status.txt") == 0 and (tmp_path / "status.txt").exists()


def test_train_job_folder() -> None:
    job = TrainJob("main", "paper", "titanic-sex", "erm", "default", (0, 1))
    assert job.run_folder(1) == "main/paper/titanic-sex/erm/default/seed1"


def test_the_config_header_examples_work_against_the_committed_runs() -> None:
    """Each `--config` example in config/config.yaml's header is accepted over the committed results:
    no finished run of other hyper-parameters in the results folder it names."""
    root = Path(__file__).resolve().parents[1]
    text = (root / "config" / "config.yaml").read_text()
    examples = [line.split("--config", 1)[1].split("#")[0] for line in text.splitlines()
                if line.startswith("#") and "--config" in line]
    assert len(examples) >= 2
    for example in examples:
        config = yaml.safe_load(text)
        for item in shlex.split(example):
            key, _, value = item.partition("=")
            config[key] = yaml.safe_load(value)
        jobs = check_config(config)
        plan = survey(jobs, root / config["results_dir"] / "runs", config)
        assert not plan.stale, (example, stale_message(plan, config["results_dir"]))
