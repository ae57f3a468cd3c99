"""Bargaining without meta-learning: a weighting of the batch's per-cell training-loss gradients
(Nash-MTL, FairGrad; docs/method.md §6) as a method of its own.

Each step, the weighting turns the Gramian of the cells' training-loss gradients
(:attr:`fairbench.method.base.StepInputs.train_gram`) into cell weights alpha, and the step descends
sum_c alpha_c L_c, i.e. the sample weights w_j = alpha_{c(j)} / n_{c(j)} (scaled like ERM's,
:func:`fairbench.method.train_gram.cell_weights_to_samples`). No validation set, no hypergradient. When the
bargain has no solution (0 in the hull of the cell gradients), the step keeps the previous weights, as
Navon et al.'s implementation does, or, in the first step, weighs the present cells equally.
"""

from __future__ import annotations

import torch

from fairbench.method.aggregation import Weighting
from fairbench.method.base import Method, StepInputs, StepWeights
from fairbench.method.train_gram import batch_cells, cell_weights_to_samples, present_cells


class TrainingGradientBargaining(Method):
    """Standalone Nash-MTL / FairGrad: ``weighting.gradients`` must be ``"training_losses"``."""

    def __init__(self, name: str, weighting: Weighting) -> None:
        if weighting.gradients != "training_losses":
            raise ValueError(f"{weighting.name} weighs hypergradients; a training-gradient bargain needs a "
                             "weighting with gradients = 'training_losses' (nash_mtl, fairgrad)")
        self.name = name  # type: ignore[misc]
        self.weighting = weighting
        self._previous_alpha: torch.Tensor | None = None

    def needs_train_gram(self, epoch: int) -> bool:
        return True

    def sample_weights(self, step: StepInputs) -> StepWeights:
        assert step.train_gram is not None, "the step must provide the training-gradient Gramian"
        gram = step.train_gram
        result = self.weighting(gram)
        if result.success:
            alpha = result.alpha
            self._previous_alpha = alpha
        elif self._previous_alpha is not None:
            alpha = self._previous_alpha
        else:
            alpha = torch.zeros(gram.shape[0], dtype=torch.float64)
            alpha[present_cells(gram)] = 1.0
        cells = batch_cells(step.y, step.group)
        weights = cell_weights_to_samples(alpha, cells, gram.shape[0]).to(step.losses.dtype)
        return StepWeights(weights, {"aggregator_failed": 0.0 if result.success else 1.0})
