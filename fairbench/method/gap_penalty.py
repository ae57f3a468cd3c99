"""In-processing fairness regularisers: the training loss plus lambda times a differentiable fairness gap
of the model's scores (Han et al., "FFB: A Fair Fairness Benchmark for In-Processing Group Fairness
Methods", ICLR 2024, https://arxiv.org/abs/2306.09468; docs/method.md §6).

The score of row j is s_j = softmax(logits_j)[1], the predicted probability of the positive label. The gap
over a set of rows R is

    gap(R) = sum_g | mean_{j in R, g_j = g} s_j - mean_{j in R} s_j |,

summed over the groups present in R; for two groups it is FFB's |mean_0 s - mean_1 s|, and it extends to
more groups without choosing a reference group. A batch with fewer than two groups in R has gap 0.
The step minimises sum_j w_j CE_j + sqrt(B) lambda gap with ERM's w_j = 1/sqrt(B), that is
sqrt(B) (mean CE + lambda gap): lambda weighs the gap against the mean loss as in FFB, and the learning rate
means what it means for ERM. lambda = 0 is ERM.
"""

from __future__ import annotations

import math
from abc import abstractmethod

import torch
from torch import Tensor

from fairbench.method.base import Method, StepInputs, StepWeights


def score_gap(score: Tensor, group: Tensor, rows: Tensor | None = None) -> Tensor:
    """gap(R) of the module docstring; ``rows`` is a boolean mask of R (all rows when None)."""
    if rows is not None:
        score, group = score[rows], group[rows]
    if score.numel() == 0:
        return score.sum()  # a differentiable zero
    overall = score.mean()
    gaps = [torch.abs(score[group == g].mean() - overall) for g in torch.unique(group)]
    return torch.stack(gaps).sum()


class GapRegulariser(Method):
    """ERM's weights plus ``sqrt(B) * lam * gap`` on the logits; subclasses define the gap."""

    penalises_logits = True

    def __init__(self, lam: float) -> None:
        if not lam >= 0 or not math.isfinite(lam):
            raise ValueError(f"the fairness penalty's lambda must be a finite number >= 0 (got {lam!r}); "
                             "set fair_lambda")
        self.lam = lam

    def sample_weights(self, step: StepInputs) -> StepWeights:
        B = step.losses.shape[0]
        return StepWeights(torch.full((B,), 1.0 / math.sqrt(B), dtype=step.losses.dtype))

    @abstractmethod
    def gap(self, score: Tensor, y: Tensor, group: Tensor) -> Tensor:
        """The differentiable fairness gap of the batch's positive-class probabilities ``score``."""

    def logit_penalty(self, logits: Tensor, step: StepInputs) -> Tensor:
        score = torch.softmax(logits, dim=1)[:, 1]
        return math.sqrt(logits.shape[0]) * self.lam * self.gap(score, step.y, step.group)
