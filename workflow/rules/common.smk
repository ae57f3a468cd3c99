import os
import shlex

# Shared helpers: which runs exist, and where their files go. Every path handed to a shell command is
# quoted ({...:q} in the commands, shlex.quote here), so a results folder may contain spaces.
from fairbench.data.registry import get_setting
from fairbench.pipeline.config import job_hyperparams


wildcard_constraints:
    experiment=r"[^/]+",
    protocol=r"[^/]+",
    setting=r"[^/]+",
    method=r"[^/]+",
    variant=r"[^/]+",
    seed=r"\d+",


def run_folder(job, seed):
    return f"{RESULTS}/runs/{job.run_folder(seed)}"


def run_files(jobs, name):
    """One file per run: every seed of every job (each job carries its own seeds)."""
    return [f"{run_folder(job, seed)}/{name}" for job in jobs for seed in job.seeds]


def jobs_of(experiment):
    return [job for job in JOBS if job.experiment == experiment]


def find_job(wildcards):
    for job in JOBS:
        if (job.experiment, job.protocol, job.setting, job.method, job.variant) == (
            wildcards.experiment, wildcards.protocol, wildcards.setting, wildcards.method, wildcards.variant
        ):
            return job
    raise ValueError(f"no such run in the configuration: {dict(wildcards)}")


def dataset_of(setting):
    return get_setting(setting).dataset


def spec_of(setting):
    """The spec file that declares a setting (none for a setting registered in code): editing it prepares again."""
    origin = get_setting(setting).origin
    return [origin] if os.path.isfile(origin) else []


def mirror_option():
    mirror = (config.get("data") or {}).get("mirror")
    return f"--mirror {shlex.quote(str(mirror))}" if mirror else ""


def wandb_mode_option():
    mode = (config.get("wandb") or {}).get("mode")
    return f"--wandb-mode {mode}" if mode else ""


def train_overrides(wildcards):
    hp = job_hyperparams(find_job(wildcards), config)
    return " ".join(shlex.quote(f"--set={key}={value}") for key, value in hp.to_dict().items() if key != "threads")


def prepared_inputs(wildcards):
    """The prepared setting, for a run that has no record yet. A run with a record does not depend on
    it, so that preparing a setting again (on a fresh clone, or for new seeds) never retrains the
    finished runs; the configuration check refuses records of other hyper-parameters."""
    run = f"{RESULTS}/runs/{wildcards.experiment}/{wildcards.protocol}/{wildcards.setting}/{wildcards.method}/{wildcards.variant}/seed{wildcards.seed}/run.json"
    if os.path.exists(run):
        return {}
    return {"prepared": f"{RESULTS}/prepared/{wildcards.setting}.parquet",
            "meta": f"{RESULTS}/prepared/{wildcards.setting}.json"}


EXPERIMENTS = sorted({job.experiment for job in JOBS})
SETTINGS = sorted({job.setting for job in JOBS})
