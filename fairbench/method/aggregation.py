"""Aggregation of per-cell hypergradients: a *weighting* of the Gramian, and a registry of them.

Every aggregator in the benchmark maps the K x B matrix of per-cell hypergradients ``G`` (one row
``g_c`` per (group, label) cell) to one direction ``d = alpha^T G``. The weights ``alpha`` depend on
``G`` only through its Gramian ``M = G G^T`` (K x K, symmetric PSD), so a method is a small
:class:`Weighting` of ``M``; :func:`aggregate` joins a weighting to ``G``.

Registered names (:data:`AGGREGATORS`, :func:`get_aggregator`): ``"nbs"`` (Nash bargaining,
:mod:`fairbench.method.nbs`), ``"mean"``, ``"mgda"``, ``"pcgrad"``, ``"cagrad"``, ``"imtl_g"``
(one file each in :mod:`baselines`), and two weightings that bargain over the cells' *training*-loss
gradients instead (``gradients = "training_losses"``: ``"nash_mtl"``, ``"fairgrad"``;
:mod:`fairbench.method.train_gram`).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import torch

__all__ = [
    "AGGREGATORS",
    "MeanWeighting",
    "Weighting",
    "WeightingResult",
    "aggregate",
    "check_gramian",
    "get_aggregator",
]

NAN_GRAMIAN_MESSAGE = "gramian contains NaN entries"
INF_GRAMIAN_MESSAGE = "gramian contains infinite entries"
SHAPE_GRAMIAN_MESSAGE = "gramian must be a non-empty square (K, K) matrix, got shape {shape}"
UNKNOWN_AGGREGATOR_MESSAGE = "unknown aggregator {name!r}; valid names: {valid}"


@dataclass(frozen=True)
class WeightingResult:
    """Cell weights of one aggregation step.

    Attributes
    ----------
    alpha : (K,) tensor, same dtype as the Gramian; the direction is ``d = alpha @ G``.
    success : False when the method has no valid solution for this Gramian.
    iterations : solver iterations used (0 for closed forms).
    info : method-specific diagnostics (floats only).
    """

    alpha: torch.Tensor
    success: bool
    iterations: int = 0
    info: dict[str, float] = field(default_factory=dict)


class Weighting(ABC):
    """A map from the K x K Gramian ``M = G G^T`` to cell weights ``alpha`` (``d = alpha^T G``).

    ``gradients`` says whose Gramian: ``"hypergradients"`` (the rows of G, the meta step's per-cell
    hypergradients) or ``"training_losses"`` (the batch's per-cell training-loss gradients in parameter
    space; alpha then weights the cells' mean training losses, :mod:`fairbench.method.train_gram`)."""

    name: ClassVar[str]
    gradients: ClassVar[str] = "hypergradients"

    @abstractmethod
    def __call__(
        self, gramian: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> WeightingResult:
        """Return the weights for ``gramian`` (``generator`` only matters to randomised methods)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def check_gramian(gramian: torch.Tensor) -> torch.Tensor:
    """Validate a Gramian and return it symmetrised, ``(M + M^T) / 2``, detached.

    Raises ``ValueError`` on a non-square or empty matrix and on NaN or infinite entries.
    """
    if not isinstance(gramian, torch.Tensor):
        gramian = torch.as_tensor(gramian)
    if gramian.ndim != 2 or gramian.shape[0] != gramian.shape[1] or gramian.shape[0] == 0:
        raise ValueError(SHAPE_GRAMIAN_MESSAGE.format(shape=tuple(gramian.shape)))
    gramian = gramian.detach()
    if not gramian.is_floating_point():
        gramian = gramian.to(torch.float64)
    if torch.isnan(gramian).any():
        raise ValueError(NAN_GRAMIAN_MESSAGE)
    if torch.isinf(gramian).any():
        raise ValueError(INF_GRAMIAN_MESSAGE)
    return 0.5 * (gramian + gramian.T)


class MeanWeighting(Weighting):
    """Plain averaging: ``alpha_c = 1/K``, so ``d = (1/K) sum_c g_c``."""

    name = "mean"

    def __call__(
        self, gramian: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> WeightingResult:
        m = check_gramian(gramian)
        k = m.shape[0]
        return WeightingResult(alpha=torch.full((k,), 1.0 / k, dtype=m.dtype), success=True)


# name -> "module:Class"; resolved on first use, so that the method modules can import this one.
_BUILTIN: dict[str, str] = {
    "nbs": "fairbench.method.nbs:NashBargaining",
    "mean": "fairbench.method.aggregation:MeanWeighting",
    "mgda": "baselines.mgda:MGDA",
    "pcgrad": "baselines.pcgrad:PCGrad",
    "cagrad": "baselines.cagrad:CAGrad",
    "imtl_g": "baselines.imtl_g:IMTLG",
    "nash_mtl": "baselines.nash_mtl:NashMTL",
    "fairgrad": "baselines.fairgrad:FairGrad",
}
_REGISTRY: dict[str, type[Weighting]] = {}

AGGREGATORS: dict[str, type[Weighting]]
"""Registered weightings by name (a plain dict, built on first access)."""


def _registry() -> dict[str, type[Weighting]]:
    if not _REGISTRY:
        for key, target in _BUILTIN.items():
            module, cls = target.split(":")
            _REGISTRY[key] = getattr(importlib.import_module(module), cls)
    return _REGISTRY


def __getattr__(name: str) -> object:  # PEP 562: lazy AGGREGATORS breaks the import cycle
    if name == "AGGREGATORS":
        return _registry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_aggregator(name: str, **options: object) -> Weighting:
    """Instantiate the weighting registered as ``name`` with keyword ``options``.

    Raises ``ValueError`` listing the valid names when ``name`` is unknown.
    """
    registry = _registry()
    if name not in registry:
        raise ValueError(
            UNKNOWN_AGGREGATOR_MESSAGE.format(name=name, valid=", ".join(sorted(registry)))
        )
    return registry[name](**options)


def aggregate(
    G: torch.Tensor, weighting: Weighting, **kw: object
) -> tuple[torch.Tensor, WeightingResult]:
    """Aggregate the rows of ``G`` (K x B): ``d = alpha^T G`` with ``alpha = weighting(G G^T)``.

    The Gramian is formed in float64; ``d`` has the dtype of ``G``. ``kw`` goes to the weighting
    (e.g. ``generator=``).
    """
    if G.ndim != 2:
        raise ValueError(f"G must be a (K, B) matrix, got shape {tuple(G.shape)}")
    g = G.detach()
    g64 = g.to(torch.float64)
    result = weighting(g64 @ g64.T, **kw)
    d = result.alpha.to(device=g.device, dtype=g.dtype) @ g
    return d, result
