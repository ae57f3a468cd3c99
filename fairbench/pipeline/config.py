"""Validation of the workflow configuration and the grid of training runs it asks for.

The Snakefile calls :func:`check_config` before building the DAG, so a bad key or value stops the
workflow before any job, with a message naming the key and the fix. Values given on the command line
(``--config seeds=[0,1] overrides='{epochs: 10}'``) reach the workflow as strings inside lists and
mappings (Snakemake parses nested values as plain YAML strings), and PyYAML reads ``1.0e9`` as a string;
:func:`coerce_config` turns such strings into the type the schema or the hyper-parameter expects when
the conversion is exact, and the checks reject the rest naming the key and the expected type.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from fairbench.data.hyperparams import reference_hyperparams
from fairbench.hparams import REFERENCE_HYPERPARAMS, HyperParams

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
#: T values at or above the number of epochs bargain in every epoch.
ALL_EPOCHS = 1_000_000
#: ``"0-24"``: the seeds 0 to 24 (both included).
SEED_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")
#: An experiment's name becomes a folder of ``<results_dir>/runs``: letters, digits, ``_``, ``-`` and ``.``
#: (not first), at most 64 characters; the same pattern is in the schema.
EXPERIMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: Characters that a Snakemake file pattern cannot hold (they would be read as wildcards).
_PATH_FORBIDDEN = ("{", "}")


class ConfigError(ValueError):
    """A workflow configuration problem; the message names the key."""


@dataclass(frozen=True)
class TrainJob:
    """The runs of one (experiment, protocol, setting, method, variant): one run per seed."""

    experiment: str
    protocol: str
    setting: str
    method: str
    variant: str  # "default", "T<n>", "Tall" or "k<n>"
    seeds: tuple[int, ...] = (0,)

    @property
    def folder(self) -> str:
        """Run folder relative to ``<results_dir>/runs`` (the seed folder is added below it)."""
        return f"{self.experiment}/{self.protocol}/{self.setting}/{self.method}/{self.variant}"

    def run_folder(self, seed: int) -> str:
        """One run's folder relative to ``<results_dir>/runs``."""
        return f"{self.folder}/seed{seed}"


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


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """The schema with every local ``{$ref: "#/$defs/x"}`` replaced by its definition."""
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            merged = {**defs[ref.rsplit("/", 1)[1]], **{k: v for k, v in node.items() if k != "$ref"}}
            return _inline_refs(merged, defs)
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    """One line naming the key; for "any of" schemas, the closest branch's complaint (a list of seeds
    with a word in it names that item, not the whole list)."""
    expected = ""
    if error.context:
        if isinstance(error.schema, dict) and error.schema.get("description"):
            expected = f" (expected {error.schema['description']})"
        same_type = [e for e in error.context if e.validator != "type" or e.relative_path]
        error = jsonschema.exceptions.best_match(same_type or error.context) or error
    return f"config key '{_key_path(error)}': {error.message}{expected}"


# ---------------------------------------------------------------------------------------------------
# Coercion of strings handed over by Snakemake's --config and by PyYAML

def _valid(value: Any, schema: dict[str, Any]) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(value)


def _coerce(value: Any, schema: dict[str, Any]) -> Any:
    """``value`` with strings parsed as YAML wherever that makes it match ``schema`` (recursively)."""
    for key in ("anyOf", "oneOf"):
        if key in schema:
            for branch in schema[key]:
                candidate = _coerce(value, branch)
                if _valid(candidate, branch):
                    return candidate
            # no branch accepts it: convert along the branch of the value's own kind, so that the error
            # names the real problem (seeds=[-1]: "-1 is less than the minimum", not "'-1' is not an integer")
            kind = {list: "array", dict: "object"}.get(type(value))
            same = [b for b in schema[key] if kind is not None and b.get("type") == kind]
            return _coerce(value, same[0]) if same else value
    if isinstance(value, str) and not _valid(value, schema):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        if parsed is not None and not isinstance(parsed, str):
            value = parsed
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_coerce(item, schema["items"]) for item in value]
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {k: _coerce(v, properties.get(k, extra if isinstance(extra, dict) else {})) for k, v in value.items()}
    return value


def coerce_hyperparam(key: str, value: Any, where: str) -> Any:
    """``value`` as the type of hyper-parameter ``key`` when the conversion is exact, else ConfigError.

    ``"1.0e9"`` -> 1e9 (a float), ``"2"`` and ``2.0`` -> 2 for an integer field; ``2.5``, ``"two"``,
    ``true`` and non-finite numbers are refused with the key and the expected type.
    """
    kinds = {f.name: str(f.type) for f in fields(HyperParams)}
    if key not in kinds:
        raise ConfigError(f"config key '{where}': unknown hyper-parameter {key!r}; valid: {', '.join(sorted(kinds))}")
    kind = kinds[key]
    if kind == "str":
        if isinstance(value, str):
            return value
        raise ConfigError(f"config key '{where}.{key}': expected a string, got {value!r}")
    number: Any = value
    if isinstance(value, str):
        try:
            number = yaml.safe_load(value)
        except yaml.YAMLError:
            number = value
        if isinstance(number, str):
            try:
                number = float(number)
            except ValueError:
                pass
    label = "an integer" if kind == "int" else "a number"
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
        raise ConfigError(f"config key '{where}.{key}': expected {label}, got {value!r}")
    if kind == "float":
        return float(number)
    if isinstance(number, float):
        if not number.is_integer():
            raise ConfigError(f"config key '{where}.{key}': expected an integer, got {value!r}")
        return int(number)
    return int(number)


def coerce_overrides(overrides: Any, where: str) -> dict[str, Any]:
    """A mapping of hyper-parameter overrides with every value of its field's type (see :func:`coerce_hyperparam`)."""
    if overrides is None:
        return {}
    if isinstance(overrides, str):
        try:
            overrides = yaml.safe_load(overrides)
        except yaml.YAMLError:
            pass
        overrides = {} if overrides is None else overrides
    if not isinstance(overrides, dict):
        raise ConfigError(f"config key '{where}': expected a mapping such as {{epochs: 10}}, got {overrides!r}")
    return {str(key): coerce_hyperparam(str(key), value, where) for key, value in overrides.items()}


def coerce_config(config: dict[str, Any]) -> None:
    """Convert, in place, strings that stand for numbers, lists or mappings (see the module docstring)."""
    raw = _schema()
    schema = _inline_refs(raw, raw.get("$defs", {}))
    for key, value in list(config.items()):
        if key in schema.get("properties", {}):
            config[key] = _coerce(value, schema["properties"][key])
    if "overrides" in config:
        config["overrides"] = coerce_overrides(config["overrides"], "overrides")
    for name, exp in (config.get("experiments") or {}).items():
        if isinstance(exp, dict) and "overrides" in exp:
            exp["overrides"] = coerce_overrides(exp["overrides"], f"experiments.{name}.overrides")


# ---------------------------------------------------------------------------------------------------
# Seeds

def parse_seeds(value: Any, where: str) -> tuple[int, ...]:
    """A seed list: a list of integers, or ``"first-last"`` (both included)."""
    if isinstance(value, str):
        match = SEED_RANGE.match(value)
        if not match or int(match.group(1)) > int(match.group(2)):
            raise ConfigError(f"config key '{where}': expected a list of seeds or a range 'first-last' "
                              f"such as '0-24', got {value!r}")
        return tuple(range(int(match.group(1)), int(match.group(2)) + 1))
    return tuple(int(s) for s in value)


def experiment_seeds(config: dict[str, Any], name: str, protocol: str, setting: str) -> tuple[int, ...]:
    """Seeds of (experiment, protocol, setting): the experiment's ``seeds`` (else the global ones), then
    the last entry of its ``seeds_for`` that names this protocol and setting (an entry without
    ``protocols`` or ``settings`` applies to all)."""
    exp = config["experiments"][name]
    seeds = parse_seeds(exp.get("seeds", config["seeds"]), f"experiments.{name}.seeds" if "seeds" in exp else "seeds")
    for i, rule in enumerate(exp.get("seeds_for") or []):
        if protocol in rule.get("protocols", [protocol]) and setting in rule.get("settings", [setting]):
            seeds = parse_seeds(rule["seeds"], f"experiments.{name}.seeds_for.{i}.seeds")
    return seeds


# ---------------------------------------------------------------------------------------------------
# The whole check

def _check_path(value: Any, key: str) -> None:
    if isinstance(value, str) and any(ch in value for ch in _PATH_FORBIDDEN):
        raise ConfigError(f"config key '{key}': {value!r} contains '{{' or '}}', which Snakemake reads as a "
                          "wildcard; choose a folder name without braces")


def check_experiment_names(experiments: Any) -> None:
    """Every experiment name is a plain folder name (:data:`EXPERIMENT_NAME`): ``..``, ``a/b``, a newline
    or a brace would put runs outside ``runs/`` or break Snakemake's file patterns."""
    for name in experiments if isinstance(experiments, dict) else ():
        if not isinstance(name, str) or not EXPERIMENT_NAME.match(name):
            raise ConfigError(f"config key 'experiments': experiment name {str(name)!r} is not a plain folder name; "
                              "use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit "
                              "(e.g. mine or ablation_lr)")


def check_config(config: dict[str, Any]) -> list[TrainJob]:
    """Coerce (in place) and validate ``config`` (schema, then names of settings, methods, overrides and
    seeds); return the job grid, one :class:`TrainJob` per (experiment, protocol, setting, method, variant)."""
    from fairbench.data.declare import use_specs
    from fairbench.data.errors import DataError
    from fairbench.data.registry import list_settings
    from fairbench.registry import available_methods

    coerce_config(config)
    check_experiment_names(config.get("experiments"))
    errors = sorted(jsonschema.Draft202012Validator(_schema()).iter_errors(config), key=lambda e: list(e.path))
    if errors:
        lines = [_describe(e) for e in errors[:5]]
        raise ConfigError("invalid workflow configuration:\n  " + "\n  ".join(lines)
                          + "\n  (schema: workflow/schemas/config.schema.yaml)")
    _check_path(config["results_dir"], "results_dir")
    _check_path((config.get("data") or {}).get("mirror"), "data.mirror")
    try:  # declared datasets: registered here, and through $FAIRBENCH_DATA_SPECS in every job
        use_specs((config.get("data") or {}).get("specs") or [])
    except DataError as error:
        raise ConfigError(f"config key 'data.specs': {error}") from None
    parse_seeds(config["seeds"], "seeds")
    reference = next(iter(REFERENCE_HYPERPARAMS.values()))
    try:
        reference.override(**config.get("overrides", {}))
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
        if "val_per_cell" in exp and "paper" in exp["protocols"]:
            raise ConfigError(f"config key 'experiments.{name}.val_per_cell': the paper protocol trains on the "
                              "paper's fixed split, whose validation rows per cell cannot change; ablate "
                              "val_per_cell under the standard protocol only")
        try:
            reference.override(**{**config.get("overrides", {}), **exp.get("overrides", {})})
        except (TypeError, ValueError) as error:
            raise ConfigError(f"config key 'experiments.{name}.overrides': {error}") from None
        # a seeds_for entry may name settings the experiment does not run (a --configfile merged over
        # config/config.yaml keeps its entries); the names must still exist
        for i, rule in enumerate(exp.get("seeds_for") or []):
            for setting in rule.get("settings", []):
                if setting not in list_settings():
                    raise ConfigError(f"config key 'experiments.{name}.seeds_for.{i}.settings': unknown setting "
                                      f"{setting!r}; valid: {', '.join(list_settings())}")
        variants = (["Tall" if t == "all" else f"T{t}" for t in exp["bargain_epochs"]] if "bargain_epochs" in exp
                    else [f"k{k}" for k in exp["val_per_cell"]] if "val_per_cell" in exp else ["default"])
        jobs += [TrainJob(name, protocol, setting, method, variant, experiment_seeds(config, name, protocol, setting))
                 for protocol in exp["protocols"] for setting in exp["settings"]
                 for method in exp["methods"] for variant in variants]
    return jobs


def export_tracking_settings(config: dict[str, Any]) -> None:
    """Make ``wandb.project`` of the config the project of every job's tracker (``$WANDB_PROJECT``)."""
    project = (config.get("wandb") or {}).get("project")
    if project:
        os.environ["WANDB_PROJECT"] = project


def job_hyperparams(job: TrainJob, config: dict[str, Any]) -> HyperParams:
    """Resolved hyper-parameters of a job: reference values, then the config's ``overrides``, then the
    experiment's ``overrides``, then the variant."""
    experiment = (config.get("experiments") or {}).get(job.experiment) or {}
    hp = reference_hyperparams(job.setting).override(**(config.get("overrides") or {}))
    hp = hp.override(**(experiment.get("overrides") or {}))
    return hp.override(**variant_overrides(job.variant))
