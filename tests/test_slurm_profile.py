"""The Slurm profile (workflow/profiles/slurm) as Snakemake applies it, checked without a cluster.

The real-cluster check is `.ci/slurm-local` (a one-node Slurm); these tests pin what it relies on:
the workflow profile does not override the Slurm profile, the cluster jobs request the resources
docs/cluster.md lists, and the small rules stay on the submit host.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SLURM_PROFILE = ROOT / "workflow" / "profiles" / "slurm" / "config.yaml"
LOCAL_RULES = {"fetch_dataset", "aggregate_runs", "tables", "tables_html", "figures", "synthetic_figure",
               "log_report_to_wandb", "findings", "report_index", "check_runs"}


def test_workflow_profile_does_not_override_the_slurm_profile(monkeypatch, capsys) -> None:
    from snakemake.cli import parse_args

    monkeypatch.chdir(ROOT)
    _, args = parse_args(["--profile", "workflow/profiles/slurm"])
    assert "workflow specific profile profiles/default" in capsys.readouterr().err  # it is applied ...
    for key, value in yaml.safe_load(SLURM_PROFILE.read_text()).items():  # ... and changes nothing
        assert getattr(args, key.replace("-", "_")) == value, key
    assert args.cores is None  # no cap on a job's threads from the submit host's core count
    assert args.default_resources is None and not args.set_resources  # the rules' own requests hold


@pytest.fixture(scope="module")
def rules() -> dict[str, tuple[bool, dict[str, object]]]:
    """Each rule of the Snakefile (quick configuration, threads_per_job=2) -> whether it is a `localrules`
    one (run on the submit host under a cluster executor) and its constant resources (threads as _cores)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    settings = ConfigSettings(configfiles=[ROOT / "config" / "quick.yaml"], config={"threads_per_job": 2})
    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(resource_settings=ResourceSettings(), config_settings=settings,
                                snakefile=ROOT / "Snakefile", workdir=ROOT)._workflow
        return {rule.name: (rule.name in workflow._localrules,
                            {key: value.value for key, value in rule.resources.items() if not value.is_evaluable()})
                for rule in workflow.rules}


def test_cluster_jobs_request_what_the_cluster_page_lists(rules) -> None:
    page = (ROOT / "docs" / "cluster.md").read_text()
    cluster = {name: resources for name, (local, resources) in rules.items() if not local and name != "all"}
    assert set(cluster) == {"prepare_setting", "train"}
    for name, resources in cluster.items():
        assert "cpus_per_task" not in resources  # sbatch's CPUs follow the rule's threads
        assert resources["_cores"] == (2 if name == "train" else 1)
        cpus = "`threads_per_job`" if name == "train" else "1"
        row = f"| `{name}` | {cpus} | {resources['mem_mb']} MB | {resources['runtime']} min |"
        assert row in page, row


def test_downloads_and_report_steps_run_on_the_submit_host(rules) -> None:
    assert {name for name, (local, _) in rules.items() if local} == LOCAL_RULES


def test_slurm_check_skips_without_root(tmp_path) -> None:
    if os.geteuid() == 0:
        command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "bash", ".ci/slurm-local"]
    else:
        command = ["bash", ".ci/slurm-local"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, HOME=str(tmp_path)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SKIPPED: needs root" in done.stdout and "the Slurm check did not run" in done.stdout
