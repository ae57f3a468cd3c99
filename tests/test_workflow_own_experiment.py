"""The pipeline on an experiment of one's own (not `main` or `comparisons`; one small setting, two
methods, two seeds, two epochs): it completes, and what the runs do not support is said on the pages.
Then, on the same results: a changed device or wandb mode retrains nothing, and a deleted seed trains
alone, in a job of its own (its training is
tests/test_run_chunks.py's)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
pytestmark = [pytest.mark.mirror, pytest.mark.slow]
RUNS = ("mine", "standard", "titanic-sex")


def _run(configfile: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [SNAKEMAKE, "--cores", "2", "--nolock", "--configfile", str(configfile), "--replace-workflow-config",
               *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _train_jobs(done: subprocess.CompletedProcess[str]) -> int:
    """Number of train jobs in the 'Job stats' table of a dry run."""
    counts = dict(line.split() for line in (done.stdout + done.stderr).splitlines()
                  if len(line.split()) == 2 and line.split()[1].isdigit())
    return int(counts.get("train", 0))


@pytest.fixture(scope="module")
def own_experiment(mirror: Path, tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("own")
    results = base / "results"
    configfile = base / "mine.yaml"
    configfile.write_text(yaml.safe_dump({
        "results_dir": str(results), "seeds": [0, 1], "overrides": {"epochs": 2}, "data": {"mirror": str(mirror)},
        "wandb": {"mode": "disabled"}, "threads_per_job": 1,
        "experiments": {"mine": {"protocols": ["standard"], "settings": ["titanic-sex"],
                                 "methods": ["erm", "nbs_ltr"]}}}))
    env = dict(os.environ, WANDB_MODE="disabled",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    done = _run(configfile, env=env)
    return results, configfile, env, done


def test_an_experiment_of_ones_own_completes(own_experiment) -> None:
    results, configfile, _, done = own_experiment
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    for method in ("erm", "nbs_ltr"):
        for seed in (0, 1):
            record = json.loads((results / "runs" / Path(*RUNS) / method / "default" / f"seed{seed}" / "run.json")
                                .read_text())
            assert record["status"] == "complete"
        # one job trained both seeds of a configuration, in one process
        marker = results / "logs" / "train" / Path(*RUNS) / method / "default" / "seeds0-1.done"
        assert json.loads(marker.read_text())["seeds"] == {"0": "complete", "1": "complete"}
    assert (results / "FINDINGS.md").is_file() and (results / "report" / "findings.html").is_file()
    assert (results / "tables").is_dir() and (results / "figures" / "runs").is_dir()
    assert f"snakemake --report report.html --configfile {configfile} --replace-workflow-config" in output


def test_a_changed_device_or_wandb_mode_retrains_nothing(own_experiment) -> None:
    _, configfile, env, done = own_experiment
    assert done.returncode == 0
    plan = _run(configfile, "-n", "--quiet", "rules", "--config", "device=cuda", "wandb={mode: offline}", env=env)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert _train_jobs(plan) == 0, plan.stdout[-3000:] + plan.stderr[-3000:]


def test_a_deleted_seed_trains_alone(own_experiment) -> None:
    results, configfile, env, done = own_experiment
    assert done.returncode == 0
    folder = results / "runs" / Path(*RUNS) / "nbs_ltr" / "default" / "seed1"
    shutil.rmtree(folder)
    plan = _run(configfile, "-n", "-p", env=env)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert _train_jobs(plan) == 1 and "--seeds 1 " in plan.stdout + plan.stderr
    assert "--wandb-name " in plan.stdout + plan.stderr and "mine/standard/titanic-sex/nbs_ltr/default/seed" in (
        plan.stdout + plan.stderr)  # wandb run names carry the experiment and the variant
    assert (results / "logs" / "train" / Path(*RUNS) / "erm" / "default" / "seeds0-1.done").is_file()
