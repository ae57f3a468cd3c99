import os
import shlex

# Shared helpers: which runs exist, and where their files go. Every path handed to a shell command is
# quoted ({...:q} in the commands, shlex.quote here), so a results folder may contain spaces.
from fairbench.data.registry import get_setting
from fairbench.pipeline.chunks import parse_seeds_tag
from fairbench.pipeline.config import job_hyperparams


wildcard_constraints:
    run=r"(?:[^/]+/){4}[^/]+",  # experiment/protocol/setting/method/variant: one configuration's folder
    seeds=r"\d+(?:-\d+)?(?:_\d+(?:-\d+)?)*",  # a chunk's seeds (fairbench.pipeline.chunks.seeds_tag)


def run_folder(job, seed):
    return f"{RESULTS}/runs/{job.run_folder(seed)}"


def run_files(jobs, name):
    """One file per run: every seed of every job (each job carries its own seeds)."""
    return [f"{run_folder(job, seed)}/{name}" for job in jobs for seed in job.seeds]


def run_inputs():
    """What the tables wait for: the record of every run kept from earlier invocations, and the marker
    of every chunk trained now (its job writes each of its seeds' records)."""
    training = {run_folder(chunk.job, seed) for chunk in CHUNKS for seed in chunk.seeds}
    kept = [f"{run_folder(job, seed)}/run.json" for job in JOBS for seed in job.seeds
            if run_folder(job, seed) not in training]
    return kept + [chunk.marker(RESULTS) for chunk in CHUNKS]


JOB_BY_FOLDER = {job.folder: job for job in JOBS}


def job_of(wildcards):
    """The configuration of a chunk's {run} wildcard."""
    try:
        return JOB_BY_FOLDER[wildcards.run]
    except KeyError:
        raise ValueError(f"no such configuration: {wildcards.run}") from None


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
    hp = job_hyperparams(job_of(wildcards), config)
    return " ".join(shlex.quote(f"--set={key}={value}") for key, value in hp.to_dict().items() if key != "threads")


def prepared_inputs(wildcards):
    """The prepared setting of a chunk (whose seeds have no record yet). A run with a record is no
    job's output, so preparing a setting again (on a fresh clone, or for new seeds) never retrains the
    finished runs; the configuration check refuses records of other hyper-parameters."""
    setting = job_of(wildcards).setting
    return {"prepared": f"{RESULTS}/prepared/{setting}.parquet", "meta": f"{RESULTS}/prepared/{setting}.json"}


EXPERIMENTS = sorted({job.experiment for job in JOBS})
SETTINGS = sorted({job.setting for job in JOBS})
