"""The two-stage fairness-aware meta-learner (Zeng et al., NeurIPS 2024, docs/method.md §4).

Stage 1 (the first ``stage1_epochs`` epochs): the K (group, label) cells bargain over the direction in
sample-weight space; the aggregator (Nash bargaining by default) turns the Gramian of the per-cell
hypergradients into cell weights alpha and d = alpha^T G. An aggregator over *training*-loss gradients
(``gradients = "training_losses"``: Nash-MTL, FairGrad; docs/method.md §6) bargains instead over the
batch's per-cell training-loss gradients, and alpha weighs the cells' training losses
(w_j = alpha_{c(j)} / n_{c(j)}). Stage 2: the one-stage objective's direction (LtR, FORML, Meta-gDRO).
With no aggregator this is the one-stage method itself.

Per batch it reports: the stage; whether the direction used aligns with every cell (<d, g_c> > 0 for
all c, "bargaining success"); whether the clipped, normalised weights actually applied improve every
cell to first order (<w, g_c> < 0); whether a Nash bargaining solution exists for this batch; and,
in stage 1, aggregator failures and the mean alpha.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fairbench.method.aggregation import Weighting
from fairbench.method.meta import ValidationSet, clip_and_normalise
from fairbench.method.base import Method, StepInputs, StepWeights
from fairbench.method.objectives import Objective
from fairbench.method.train_gram import batch_cells, cell_weights_to_samples

FALLBACKS = ("objective", "previous_weights")


class MetaReweighting(Method):
    """One-stage (``aggregator=None``) or two-stage meta-learned sample reweighting."""

    uses_meta = True

    def __init__(self, name: str, objective: Objective, val: ValidationSet, *,
                 aggregator: Weighting | None = None, stage1_epochs: int = 0,
                 fallback: str = "objective", weight_norm: str = "l2",
                 solvability_probe: Weighting | None = None) -> None:
        if fallback not in FALLBACKS:
            raise ValueError(f"unknown fallback {fallback!r}; valid: {FALLBACKS}")
        self.name = name  # type: ignore[misc]  # instance-level name of a composed method
        self.objective = objective
        self.val = val
        self.aggregator = aggregator
        self.stage1_epochs = stage1_epochs if aggregator is not None else 0
        self.fallback = fallback
        self.weight_norm = weight_norm
        self.solvability_probe = solvability_probe
        self._previous_weights: Tensor | None = None

    def in_stage1(self, epoch: int) -> bool:
        """Epochs are counted from 1; stage 1 covers epochs 1..stage1_epochs."""
        return self.aggregator is not None and epoch <= self.stage1_epochs

    def bargains_over_training_losses(self) -> bool:
        """Whether stage 1 bargains over training-loss gradients rather than hypergradients."""
        return self.aggregator is not None and self.aggregator.gradients == "training_losses"

    def needs_train_gram(self, epoch: int) -> bool:
        return self.in_stage1(epoch) and self.bargains_over_training_losses()

    def sample_weights(self, step: StepInputs) -> StepWeights:
        assert step.hyper is not None, "meta methods need hypergradients"
        G, cell_losses = step.hyper.G, step.hyper.cell_losses
        diagnostics: dict[str, float] = {"stage": 1.0 if self.in_stage1(step.epoch) else 2.0}
        gramian = (G.double() @ G.double().T) if (self.aggregator or self.solvability_probe) else None
        weights: Tensor | None = None
        if self.in_stage1(step.epoch):
            assert self.aggregator is not None and gramian is not None
            on_training = self.bargains_over_training_losses()
            if on_training:
                assert step.train_gram is not None, "the step must provide the training-gradient Gramian"
            result = self.aggregator(step.train_gram if on_training else gramian)
            diagnostics["aggregator_failed"] = 0.0 if result.success else 1.0
            if result.success and on_training:
                assert step.train_gram is not None
                direction = None
                weights = cell_weights_to_samples(result.alpha, batch_cells(step.y, step.group),
                                                  step.train_gram.shape[0]).to(G.dtype)
            elif result.success:
                direction = result.alpha.to(G.dtype) @ G
                diagnostics["alpha_mean"] = float(result.info.get("alpha_mean_normalised", result.alpha.mean()))
            elif self.fallback == "previous_weights" and self._previous_weights is not None:
                direction, weights = None, self._previous_weights
            else:
                direction = self.objective.direction(G, cell_losses, self.val)
            if self.aggregator.name == "nbs":
                diagnostics["nbs_solvable"] = 1.0 if result.success else 0.0
        else:
            direction = self.objective.direction(G, cell_losses, self.val)
        if "nbs_solvable" not in diagnostics and self.solvability_probe is not None and gramian is not None:
            diagnostics["nbs_solvable"] = 1.0 if self.solvability_probe(gramian).success else 0.0
        if weights is None:
            assert direction is not None
            weights = clip_and_normalise(direction, self.weight_norm)
            diagnostics["aligned"] = float(bool(torch.all(G @ direction > 0)))
        else:
            diagnostics["aligned"] = float(bool(torch.all(G @ (-weights) > 0)))
        diagnostics["applied_aligned"] = float(bool(torch.any(weights > 0) and torch.all(G @ weights < 0)))
        self._previous_weights = weights
        return StepWeights(weights, diagnostics)
