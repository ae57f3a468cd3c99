"""Which epoch of a run is reported (docs/protocols.md §3).

- ``"test_seed_mean"`` (the reference's rule): for each configuration (experiment, protocol, setting,
  method, T, validation rows per cell) the single epoch that maximises the **seed-mean test** ``auc``;
  every seed of that configuration is reported at that epoch. This selects on the test set, so its
  numbers are optimistic; it exists for paper parity only.
- ``"val_loss"`` (standard protocol): per run, the epoch with the lowest validation meta loss
  ``val_meta_loss``; no test data is used.
- ``"last"``: per run, its last epoch.

Ties go to the earliest epoch.
"""

from __future__ import annotations

import pandas as pd

from fairbench.reports.collect import CONFIG_KEYS

__all__ = ["SELECTION_RULES", "select_epochs"]

SELECTION_RULES: tuple[str, ...] = ("test_seed_mean", "val_loss", "last")
UNKNOWN_RULE_MESSAGE = "unknown epoch selection {rule!r}; valid: " + ", ".join(SELECTION_RULES)
EMPTY_MESSAGE = "no runs to select epochs from"
NO_VAL_LOSS_MESSAGE = "{run}: val_meta_loss is missing or NaN at every epoch; use the 'last' rule"


def _test_seed_mean(frame: pd.DataFrame, metric: str) -> pd.Series:
    """Selected epoch per run_dir: the epoch maximising the seed-mean ``metric`` of its configuration."""
    chosen: dict[str, int] = {}
    for _, group in frame.groupby(list(CONFIG_KEYS), dropna=False, sort=False):
        curve = group.groupby("epoch")[metric].mean().sort_index()
        if curve.isna().all():
            raise ValueError(f"{metric} is NaN at every epoch of {group['run_dir'].iloc[0]}")
        best = int(curve.idxmax())  # first maximum: earliest epoch
        for run in group["run_dir"].unique():
            chosen[run] = best
    return pd.Series(chosen)


def _per_run(frame: pd.DataFrame, rule: str) -> pd.Series:
    chosen: dict[str, int] = {}
    for run, group in frame.groupby("run_dir", sort=False):
        group = group.sort_values("epoch")
        if rule == "last":
            chosen[run] = int(group["epoch"].iloc[-1])
            continue
        loss = group["val_meta_loss"] if "val_meta_loss" in group else pd.Series(dtype=float)
        if loss.isna().all():
            raise ValueError(NO_VAL_LOSS_MESSAGE.format(run=run))
        chosen[run] = int(group["epoch"].loc[loss.idxmin()])  # first minimum: earliest epoch
    return pd.Series(chosen)


def select_epochs(frame: pd.DataFrame, rule: str | None = None, *, metric: str = "auc") -> pd.DataFrame:
    """One row per run at its selected epoch, with columns ``selection`` and ``selected_epoch``.

    ``rule=None`` applies each run's own protocol rule (column ``epoch_selection``); ``metric`` is the
    test metric maximised by ``"test_seed_mean"`` (the paper's hard-label ``auc``).
    """
    if frame.empty:
        raise ValueError(EMPTY_MESSAGE)
    if rule is not None and rule not in SELECTION_RULES:
        raise ValueError(UNKNOWN_RULE_MESSAGE.format(rule=rule))
    rules = pd.Series(rule, index=frame.index) if rule is not None else frame["epoch_selection"]
    unknown = set(rules.unique()) - set(SELECTION_RULES)
    if unknown:
        raise ValueError(UNKNOWN_RULE_MESSAGE.format(rule=sorted(unknown)[0]))
    parts = []
    for name, sub in frame.groupby(rules, sort=False):
        chosen = _test_seed_mean(sub, metric) if name == "test_seed_mean" else _per_run(sub, str(name))
        picked = sub[sub["epoch"].to_numpy() == sub["run_dir"].map(chosen).to_numpy()].copy()
        missing = set(sub["run_dir"]) - set(picked["run_dir"])
        if missing:
            raise ValueError(f"runs without the selected epoch {chosen[sorted(missing)[0]]}: {sorted(missing)}")
        picked["selection"] = name
        picked["selected_epoch"] = picked["epoch"]
        parts.append(picked)
    out = pd.concat(parts, ignore_index=True)
    out.attrs = dict(frame.attrs)
    return out.sort_values(["experiment", "protocol", "setting", "method", "seed"], kind="stable",
                           ignore_index=True)
