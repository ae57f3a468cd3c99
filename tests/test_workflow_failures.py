"""The pipeline with failing runs, in a results folder whose path has a space: every table and figure
is built from the runs that finished, the failed runs keep their failure records and are listed with
their errors, and snakemake exits non-zero at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.mirror, pytest.mark.slow]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def _config(results: Path, mirror: Path) -> dict:
    ok = {"protocols": ["standard"], "settings": ["titanic-sex"], "methods": ["erm", "nbs_ltr"]}
    return {
        "results_dir": str(results), "seeds": [0, 1], "overrides": {"epochs": 2}, "data": {"mirror": str(mirror)},
        "wandb": {"mode": "disabled", "project": "fairbench-test"}, "threads_per_job": 1,
        "experiments": {
            "main": ok,
            # a learning rate that makes the loss NaN in the first epoch
            "diverging": {**ok, "methods": ["erm"], "overrides": {"lr": 1e6}},
            # a batch larger than student_por's 577 training rows (one seed)
            "too_large": {"protocols": ["standard"], "settings": ["student_por-sex"], "methods": ["erm"],
                          "seeds": [0], "overrides": {"batch_size": 600}},
        },
    }


def _run(configfile: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [SNAKEMAKE, "--cores", "2", "--nolock", "--configfile", str(configfile), "--replace-workflow-config",
               *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def failing_run(mirror: Path, tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("failing")
    results = base / "with space" / "results"
    configfile = base / "config with space.yaml"
    spaced_mirror = base / "raw files"  # the mirror named in the config, through a path with a space
    spaced_mirror.symlink_to(mirror, target_is_directory=True)
    configfile.write_text(yaml.safe_dump(_config(results, spaced_mirror)))
    env = dict(os.environ, WANDB_MODE="disabled",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("FAIRBENCH_DATA_MIRROR", None)  # the data comes through the configured mirror only
    done = _run(configfile, env=env)
    return results, configfile, env, done


def test_failed_runs_make_the_pipeline_fail_at_the_end(failing_run) -> None:
    _, _, _, done = failing_run
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-3000:]
    assert "3 run(s) failed" in output, output[-3000:]
    assert "non-finite training loss" in output and "exceeds the 577 training rows" in output


def test_tables_and_figures_are_built_from_the_runs_that_finished(failing_run) -> None:
    results, _, _, done = failing_run
    table = pd.read_csv(results / "tables" / "main_standard.csv")
    assert len(table) == 2, done.stderr[-3000:]  # erm and nbs_ltr on titanic
    assert list((results / "figures" / "runs").rglob("*.png"))
    assert list((results / "figures" / "synthetic").rglob("*.png"))
    assert (results / "aggregate" / "wandb_report.json").is_file()


def test_failure_records_survive_and_are_listed(failing_run) -> None:
    results, _, _, _ = failing_run
    failed = pd.read_csv(results / "tables" / "failed_runs.csv")
    assert len(failed) == 3
    errors = dict(zip(failed["run_dir"], failed["error"]))
    for seed in (0, 1):  # each seed of the diverging job failed on its own; neither stopped the other
        run = results / "runs" / "diverging" / "standard" / "titanic-sex" / "erm" / "default" / f"seed{seed}"
        record = json.loads((run / "run.json").read_text())
        assert record["status"] == "failed" and "non-finite" in record["error"]
        assert "non-finite" in errors[str(run)]
        assert not (run / "metrics.csv").exists()
    run = results / "runs" / "too_large" / "standard" / "student_por-sex" / "erm" / "default" / "seed0"
    assert "exceeds the 577 training rows" in json.loads((run / "run.json").read_text())["error"]
    for seed in (0, 1):
        run = results / "runs" / "main" / "standard" / "titanic-sex" / "nbs_ltr" / "default" / f"seed{seed}"
        assert json.loads((run / "run.json").read_text())["status"] == "complete"


def test_a_second_invocation_keeps_the_records_and_still_fails(failing_run) -> None:
    results, configfile, env, _ = failing_run
    plan = _run(configfile, "-n", "--quiet", "rules", env=env)
    assert plan.returncode == 0, plan.stderr[-2000:]
    output = plan.stdout + plan.stderr
    assert "7 complete" not in output and "3 failed (kept as records" in output
    assert "train" not in [line.split()[0] for line in output.splitlines() if line.split()], output[-3000:]
    again = _run(configfile, env=env)
    assert again.returncode != 0 and "3 run(s) failed" in again.stdout + again.stderr
    assert not list(results.parent.glob("*{*")) and not list(ROOT.glob("with space*"))  # no stray files
