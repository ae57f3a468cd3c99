"""The fairness regularisers' lambda sweeps in the reports (docs/method.md §6, docs/protocols.md §3).

A **sweep** is one (protocol, setting, method) run in several reference experiments with different
``fair_lambda`` values (``fair_lambda_0p1``, ``fair_lambda_0p3``, ...): each value is a **point**, trained with
every seed. The reports show one point per sweep, chosen by
:func:`fairbench.method.sweep.choose_sweep_point` from the **validation** worst-group AUC of each run at its
selected epoch (never a test number), and drop the other points' runs, so that every table, paired test,
finding and trade-off mean reports exactly the chosen point. The sweep table and the trade-off curves show
every point.

When one lambda was run in several experiments, the point takes the runs of the earliest of them in the
reports' experiment order, as :func:`~fairbench.reports.collect.prefer_experiments` does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from fairbench.method.sweep import choose_sweep_point
from fairbench.reports.collect import prefer_experiments
from fairbench.reports.selection import select_epochs

__all__ = ["CHOSEN_COLUMN", "CRITERION", "SWEEP_KEYS", "SWEEP_RULE", "Sweeps", "find_sweeps", "keep_chosen_points",
           "lambda_text", "prefer_chosen"]

#: The validation metric the rule maximises (mean over seeds).
CRITERION = "val_worst_group_auc"
#: What identifies one sweep; its points differ in ``fair_lambda``.
SWEEP_KEYS: tuple[str, ...] = ("protocol", "setting", "method")
#: Column added to every frame the reports filter: True for the runs of a sweep's chosen point.
CHOSEN_COLUMN = "sweep_chosen"
#: The rule, as the tables and figures state it.
SWEEP_RULE = ("the lambda with the highest mean validation worst-group AUC over seeds (each run at its selected "
              "epoch), ties to the smaller lambda; test data never enters the choice (docs/method.md §6)")
NO_LAMBDA_MESSAGE = ("{protocol} {setting} {method}: {n} run(s) of experiment {experiment!r} record no fair_lambda "
                     "while others form a lambda sweep (e.g. {example}); retrain them or leave their experiment out")
BAD_CRITERION_MESSAGE = "lambda sweep of {protocol} {setting} {method}: {problem}"
POINT_COLUMNS = ["protocol", "setting", "method", "fair_lambda", "experiment", "n_runs", "criterion_mean", "chosen"]


def lambda_text(value: float) -> str:
    """``0.3`` -> ``"0.3"``, ``1.0`` -> ``"1"``."""
    return f"{value:g}"


@dataclass(frozen=True)
class Sweeps:
    """The sweeps found among some runs.

    ``points``: one row per (protocol, setting, method, fair_lambda) of every sweep (:data:`POINT_COLUMNS`;
    ``criterion_mean`` is the mean validation worst-group AUC the rule compared). ``runs``: the selected
    rows of every point's runs, with column ``chosen``. ``dropped``: the run folders the reports leave out
    (the points not chosen, and a chosen lambda's runs in a later experiment).
    """

    points: pd.DataFrame
    runs: pd.DataFrame
    dropped: frozenset[str] = field(default_factory=frozenset)

    def __bool__(self) -> bool:
        return not self.points.empty

    def mark(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` (any rows with ``run_dir``) with :data:`CHOSEN_COLUMN`: True for the chosen points' runs."""
        chosen = set(self.runs.loc[self.runs["chosen"].astype(bool), "run_dir"]) if len(self.runs) else set()
        out = frame.assign(**{CHOSEN_COLUMN: frame["run_dir"].isin(chosen)})
        out.attrs = dict(frame.attrs)
        return out

    def keep_chosen(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` (all epochs or selected ones) without the dropped runs, marked (:meth:`mark`)."""
        kept = frame[~frame["run_dir"].isin(self.dropped)]
        kept.attrs = dict(frame.attrs)
        return self.mark(kept)

    def chosen(self, protocol: str | None = None) -> pd.DataFrame:
        """The chosen point of each sweep (of ``protocol`` when given)."""
        points = self.points[self.points["chosen"]]
        return points if protocol is None else points[points["protocol"] == protocol]


def _empty() -> Sweeps:
    return Sweeps(pd.DataFrame(columns=POINT_COLUMNS), pd.DataFrame(columns=["run_dir", "chosen"]))


def _point_runs(runs: pd.DataFrame, order: Sequence[str]) -> tuple[pd.DataFrame, set[str]]:
    """The run-level rows that make up the sweeps' points and the run folders that no point takes. A lambda
    run in several experiments takes the earliest experiment of ``order``."""
    rank = {name: i for i, name in enumerate(order)}
    runs = runs.assign(_rank=runs["experiment"].map(rank))
    parts, dropped = [], set()
    for key, group in runs.groupby(list(SWEEP_KEYS), sort=True):
        lambdas = group["fair_lambda"].dropna().unique()
        if len(lambdas) < 2 or group["experiment"].nunique() < 2:
            continue
        unrecorded = group[group["fair_lambda"].isna()]
        if len(unrecorded):
            example = group.loc[group["fair_lambda"].notna(), "run_dir"].iloc[0]
            raise ValueError(NO_LAMBDA_MESSAGE.format(protocol=key[0], setting=key[1], method=key[2],
                                                      n=len(unrecorded), experiment=unrecorded["experiment"].iloc[0],
                                                      example=example))
        first = group.groupby("fair_lambda")["_rank"].transform("min")
        taken = group[group["_rank"] == first]
        parts.append(taken)
        dropped |= set(group["run_dir"]) - set(taken["run_dir"])
    frame = pd.concat(parts, ignore_index=True).drop(columns="_rank") if parts else runs.iloc[:0]
    return frame, dropped


def find_sweeps(selected: pd.DataFrame, order: Sequence[str]) -> Sweeps:
    """The sweeps among the runs of the experiments ``order`` in ``selected`` (one row per run at its
    selected epoch, :func:`~fairbench.reports.selection.select_epochs`) and each one's chosen point.

    Raises ``ValueError`` (one line, naming the sweep) when a sweep's runs lack ``fair_lambda`` or the
    validation worst-group AUC at their selected epoch.
    """
    if "fair_lambda" not in selected.columns:
        return _empty()
    runs = selected[selected["experiment"].isin(list(order))].drop_duplicates("run_dir")
    members, dropped = _point_runs(runs, order)
    if members.empty:
        return _empty()
    if CRITERION not in members.columns:
        raise ValueError(f"lambda sweeps found but the runs have no {CRITERION} column; retrain them with the "
                         "current fairbench")
    rows, chosen_runs = [], []
    for key, group in members.groupby(list(SWEEP_KEYS), sort=True):
        values = {float(lam): point[CRITERION].to_numpy(dtype=float).tolist()
                  for lam, point in group.groupby("fair_lambda", sort=True)}
        try:
            best = choose_sweep_point(values)
        except ValueError as error:
            raise ValueError(BAD_CRITERION_MESSAGE.format(protocol=key[0], setting=key[1], method=key[2],
                                                          problem=error)) from None
        for lam, point in group.groupby("fair_lambda", sort=True):
            rows.append({**dict(zip(SWEEP_KEYS, key)), "fair_lambda": float(lam),
                         "experiment": str(point["experiment"].iloc[0]), "n_runs": len(point),
                         "criterion_mean": math.fsum(values[float(lam)]) / len(point), "chosen": lam == best})
        chosen_runs.append(group.assign(chosen=group["fair_lambda"] == best))
    runs_out = pd.concat(chosen_runs, ignore_index=True)
    dropped |= set(runs_out.loc[~runs_out["chosen"], "run_dir"])
    return Sweeps(pd.DataFrame(rows, columns=POINT_COLUMNS), runs_out, frozenset(dropped))


def _candidates(frame: pd.DataFrame, order: Sequence[str]) -> pd.DataFrame:
    """Rows of (protocol, setting, method) that ran in several experiments of ``order`` with several
    lambdas: the only runs whose epochs must be selected to find the sweeps."""
    if "fair_lambda" not in frame.columns:
        return frame.iloc[:0]
    runs = frame.loc[frame["experiment"].isin(list(order)), [*SWEEP_KEYS, "experiment", "fair_lambda", "run_dir"]]
    runs = runs.drop_duplicates("run_dir")
    spread = runs.groupby(list(SWEEP_KEYS))[["experiment", "fair_lambda"]].transform("nunique")
    keys = runs.loc[(spread["experiment"] > 1) & (spread["fair_lambda"] > 1), "run_dir"]
    return frame[frame["run_dir"].isin(set(keys))]


def keep_chosen_points(frame: pd.DataFrame, order: Sequence[str], *, rule: str | None = None) -> pd.DataFrame:
    """``frame`` (all epochs or selected ones) with each sweep reduced to its chosen point
    (:meth:`Sweeps.keep_chosen`). Epochs are selected by ``rule`` (``None``: each protocol's own) unless
    ``frame`` is already one row per run at its selected epoch. A frame without sweeps comes back whole."""
    candidates = _candidates(frame, order)
    if candidates.empty:
        sweeps = _empty()
    else:
        selected = candidates if "selected_epoch" in candidates.columns else select_epochs(candidates, rule)
        sweeps = find_sweeps(selected, order)
    return sweeps.keep_chosen(frame)


def prefer_chosen(frame: pd.DataFrame, order: Sequence[str]) -> pd.DataFrame:
    """:func:`~fairbench.reports.collect.prefer_experiments` after reducing each lambda sweep to its chosen
    point (:func:`keep_chosen_points`; skipped when ``frame`` was reduced already)."""
    reduced = frame if CHOSEN_COLUMN in frame.columns else keep_chosen_points(frame, order)
    return prefer_experiments(reduced, order)
