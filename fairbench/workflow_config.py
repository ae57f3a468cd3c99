"""Validation of the workflow configuration and the grid of training jobs it asks for.

The Snakefile calls :func:`check_config` before building the DAG, so a bad key or value stops the
workflow before any job, with a message naming the key and the fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from fairbench.hparams import REFERENCE_HYPERPARAMS, HyperParams, reference_hyperparams

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"
#: T values at or above the number of epochs bargain in every epoch.
ALL_EPOCHS = 1_000_000


class ConfigError(ValueError):
    """A workflow configuration problem; the message names the key."""


@dataclass(frozen=True)
class TrainJob:
    """One training job: every seed of one (experiment, protocol, setting, method, variant)."""

    experiment: str
    protocol: str
    setting: str
    method: str
    variant: str  # "default", "T<n>", "Tall" or "k<n>"

    @property
    def folder(self) -> str:
        """Run folder relative to ``<results_dir>/runs`` (the seed folder is added below it)."""
        return f"{self.experiment}/{self.protocol}/{self.setting}/{self.method}/{self.variant}"


def variant_overrides(variant: str) -> dict[str, int]:
    """Hyper-parameter overrides that a variant name stands for."""
    if variant == "default":
        return {}
    if variant == "Tall":
        return {"bargain_epochs": ALL_EPOCHS}
    if variant[:1] == "T" and variant[1:].isdigit():
        return {"bargain_epochs": int(variant[1:])}
    if variant[:1] == "k" and variant[1:].isdigit():
        return {"val_per_cell": int(variant[1:])}
    raise ConfigError(f"unknown run variant {variant!r}; expected default, T<n>, Tall or k<n>")


def _schema() -> dict[str, Any]:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def check_config(config: dict[str, Any]) -> list[TrainJob]:
    """Validate ``config`` (schema, then names of settings, methods and overrides); return the job grid."""
    from fairbench.data.declare import use_specs
    from fairbench.data.errors import DataError
    from fairbench.data.registry import list_settings
    from fairbench.registry import available_methods

    errors = sorted(jsonschema.Draft202012Validator(_schema()).iter_errors(config), key=lambda e: list(e.path))
    if errors:
        lines = [f"config key '{_key_path(e)}': {e.message}" for e in errors[:5]]
        raise ConfigError("invalid workflow configuration:\n  " + "\n  ".join(lines)
                          + "\n  (schema: workflow/schemas/config.schema.yaml)")
    try:  # declared datasets: registered here, and through $FAIRBENCH_DATA_SPECS in every job
        use_specs((config.get("data") or {}).get("specs") or [])
    except DataError as error:
        raise ConfigError(f"config key 'data.specs': {error}") from None
    overrides = config.get("overrides") or {}
    try:
        next(iter(REFERENCE_HYPERPARAMS.values())).override(**overrides)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"config key 'overrides': {error}") from None
    methods = set(available_methods())
    jobs: list[TrainJob] = []
    for name, exp in config["experiments"].items():
        for setting in exp["settings"]:
            if setting not in list_settings():
                raise ConfigError(f"config key 'experiments.{name}.settings': unknown setting {setting!r}; "
                                  f"valid: {', '.join(list_settings())}")
        for method in exp["methods"]:
            if method not in methods:
                raise ConfigError(f"config key 'experiments.{name}.methods': unknown method {method!r}; "
                                  f"valid: {', '.join(sorted(methods))}")
        if "bargain_epochs" in exp and "val_per_cell" in exp:
            raise ConfigError(f"config key 'experiments.{name}': ablate bargain_epochs or val_per_cell, not both")
        variants = (["Tall" if t == "all" else f"T{t}" for t in exp["bargain_epochs"]] if "bargain_epochs" in exp
                    else [f"k{k}" for k in exp["val_per_cell"]] if "val_per_cell" in exp else ["default"])
        jobs += [TrainJob(name, protocol, setting, method, variant)
                 for protocol in exp["protocols"] for setting in exp["settings"]
                 for method in exp["methods"] for variant in variants]
    return jobs


def export_tracking_settings(config: dict[str, Any]) -> None:
    """Make ``wandb.project`` of the config the project of every job's tracker (``$WANDB_PROJECT``)."""
    project = (config.get("wandb") or {}).get("project")
    if project:
        os.environ["WANDB_PROJECT"] = project


def job_hyperparams(job: TrainJob, config: dict[str, Any]) -> HyperParams:
    """Resolved hyper-parameters of a job (reference values, then config overrides, then the variant)."""
    hp = reference_hyperparams(job.setting).override(**(config.get("overrides") or {}))
    return hp.override(**variant_overrides(job.variant))
