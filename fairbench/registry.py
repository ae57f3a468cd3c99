"""Name -> method registry: non-meta baselines (among them the in-processing fairness regularisers and
the bargains over training-loss gradients), one-stage meta objectives, and every
``<aggregator>_<objective>`` two-stage combination (e.g. ``nbs_ltr``, ``mgda_forml``, ``nash_mtl_ltr``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from baselines.adversarial import AdversarialDebiasing
from baselines.diffdp import DiffDP
from baselines.diffeodd import DiffEodd
from baselines.diffeopp import DiffEopp
from baselines.dro import DRO
from baselines.erm import ERM
from baselines.fairgrad import FairGrad
from baselines.forml import FORML
from baselines.group_dro import GroupDRO
from baselines.ltr import LearningToReweight
from baselines.meta_gdro import MetaGroupDRO
from baselines.nash_mtl import NashMTL
from baselines.reweighing import Reweighing
from fairbench.method.aggregation import AGGREGATORS, get_aggregator
from fairbench.hparams import HyperParams
from fairbench.method.meta import ValidationSet
from fairbench.method.base import Method
from fairbench.method.objectives import Objective
from fairbench.evaluation.protocols import Protocol
from fairbench.method.train_bargain import TrainingGradientBargaining
from fairbench.method.two_stage import MetaReweighting

#: The eight methods of the paper's main table.
PAPER_METHODS: tuple[str, ...] = ("erm", "dro", "ltr", "forml", "meta_gdro", "nbs_ltr", "nbs_forml",
                                  "nbs_meta_gdro")

OBJECTIVES: dict[str, type[Objective]] = {
    "ltr": LearningToReweight,
    "forml": FORML,
    "meta_gdro": MetaGroupDRO,
}


@dataclass(frozen=True)
class Baseline:
    """A baseline's builder and the class it builds, whose ``label`` names it in the reports."""

    method_class: type[Method]
    build: Callable[[HyperParams], Method]

    def __call__(self, hp: HyperParams) -> Method:
        return self.build(hp)


BASELINES: dict[str, Callable[[HyperParams], Method]] = {
    "erm": lambda hp: ERM(),
    "dro": lambda hp: DRO(hp.dro_fraction),
    "group_dro": lambda hp: GroupDRO(hp.group_dro_step_size),
    "reweighing": lambda hp: Reweighing(),
    "diffdp": Baseline(DiffDP, lambda hp: DiffDP(hp.fair_lambda)),
    "diffeopp": Baseline(DiffEopp, lambda hp: DiffEopp(hp.fair_lambda)),
    "diffeodd": Baseline(DiffEodd, lambda hp: DiffEodd(hp.fair_lambda)),
    "adv_debias": Baseline(AdversarialDebiasing, lambda hp: AdversarialDebiasing(hp.fair_lambda, hp.lr)),
    "nash_mtl": lambda hp: TrainingGradientBargaining("nash_mtl", NashMTL()),
    "fairgrad": lambda hp: TrainingGradientBargaining("fairgrad", FairGrad(hp.fairgrad_alpha)),
}


#: The fairness literature's in-processing baselines: the gap regularisers (Han et al. 2023) and adversarial
#: debiasing (Zhang, Lemoine & Mitchell 2018), each run over a lambda sweep; and the bargains over the groups'
#: training-loss gradients without meta-learning (Nash-MTL, Navon et al. 2022; FairGrad, Ban & Ji 2024). The
#: findings compare NBS with each of them (docs/protocols.md §6).
FAIRNESS_REGULARISERS: tuple[str, ...] = ("diffdp", "diffeopp", "diffeodd", "adv_debias")
STANDALONE_BARGAINS: tuple[str, ...] = ("nash_mtl", "fairgrad")
LITERATURE_BASELINES: tuple[str, ...] = (*FAIRNESS_REGULARISERS, *STANDALONE_BARGAINS)

#: The aggregator that bargains over the cells' hypergradients (the paper's NBS, docs/method.md §4) and the one
#: that bargains over their training-loss gradients (Nash-MTL, Navon et al., ICML 2022): the bargaining ablation.
HYPERGRADIENT_BARGAINING = "nbs"
TRAINING_GRADIENT_BARGAINING = "nash_mtl"


def available_methods() -> list[str]:
    """Every valid method name."""
    combos = [f"{agg}_{obj}" for agg in AGGREGATORS for obj in OBJECTIVES]
    return [*BASELINES, *OBJECTIVES, *combos]


def nbs_pairs() -> dict[str, str]:
    """Two-stage NBS variant -> its one-stage counterpart, one pair per registered objective
    (``nbs_ltr`` -> ``ltr``; a new objective ``mix_worst`` gives ``nbs_mix_worst`` -> ``mix_worst``).
    Read at call time, so an objective registered later is paired too (docs/method.md §4)."""
    if HYPERGRADIENT_BARGAINING not in AGGREGATORS:
        return {}
    return {f"{HYPERGRADIENT_BARGAINING}_{objective}": objective for objective in OBJECTIVES}


class BargainingTriple(NamedTuple):
    """One objective of the bargaining ablation (docs/method.md, "The bargaining ablation"): no bargaining
    (``ltr``), bargaining over hypergradients (``nbs_ltr``), over training-loss gradients (``nash_mtl_ltr``)."""

    objective: str
    one_stage: str
    hypergradient: str
    training_gradient: str


def bargaining_triples() -> list[BargainingTriple]:
    """One :class:`BargainingTriple` per registered objective, in registry order; read at call time, as
    :func:`nbs_pairs`; empty when either bargaining aggregator is not registered."""
    if HYPERGRADIENT_BARGAINING not in AGGREGATORS or TRAINING_GRADIENT_BARGAINING not in AGGREGATORS:
        return []
    return [BargainingTriple(objective, objective, f"{HYPERGRADIENT_BARGAINING}_{objective}",
                             f"{TRAINING_GRADIENT_BARGAINING}_{objective}") for objective in OBJECTIVES]


def literature_baselines() -> list[str]:
    """:data:`LITERATURE_BASELINES` that are registered (:data:`BASELINES`), in that order; read at call time."""
    return [name for name in LITERATURE_BASELINES if name in BASELINES]


def meta_methods() -> list[str]:
    """The one-stage meta objectives and their NBS variants, in registry order: the methods whose
    bargaining success (alignment, NBS solvability) the reports show."""
    return [*OBJECTIVES, *nbs_pairs()]


def _split_name(name: str) -> tuple[str | None, str]:
    """``"pcgrad_meta_gdro"`` -> ("pcgrad", "meta_gdro"); ``"ltr"`` -> (None, "ltr")."""
    if name in OBJECTIVES:
        return None, name
    for agg in sorted(AGGREGATORS, key=len, reverse=True):
        prefix = agg + "_"
        if name.startswith(prefix) and name[len(prefix):] in OBJECTIVES:
            return agg, name[len(prefix):]
    raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(available_methods())}")


def build_method(name: str, hp: HyperParams, protocol: Protocol, val: ValidationSet) -> Method:
    """Instantiate method ``name`` for one run; unknown names list the valid ones."""
    if name in BASELINES:
        return BASELINES[name](hp)
    agg_name, obj_name = _split_name(name)
    objective = OBJECTIVES[obj_name]()
    aggregator = None
    if agg_name is not None:
        options = {"c": hp.cagrad_c} if agg_name == "cagrad" else {}
        options = {"alpha": hp.fairgrad_alpha} if agg_name == "fairgrad" else options
        aggregator = get_aggregator(agg_name, **options)
    fallback = "objective"
    if agg_name == "nbs" and obj_name == "ltr":
        fallback = protocol.ltr_nbs_fallback
    probe = get_aggregator("nbs")  # records whether a bargaining solution exists, in every batch
    return MetaReweighting(name, objective, val, aggregator=aggregator,
                           stage1_epochs=protocol.stage1_epochs(hp.bargain_epochs), fallback=fallback,
                           weight_norm=hp.weight_norm, solvability_probe=probe)
