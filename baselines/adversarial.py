"""Adversarial debiasing (Zhang, Lemoine & Mitchell, "Mitigating Unwanted Biases with Adversarial Learning",
AIES 2018, https://arxiv.org/abs/1801.07593), with a gradient-reversal layer (Ganin & Lempitsky, ICML 2015,
https://arxiv.org/abs/1409.7495) as in FFB (Han et al., ICLR 2024).

An adversary a_phi (an MLP with one hidden layer of :data:`ADVERSARY_WIDTH` units) predicts the sensitive group
from the classifier's output, the logit margin z_1 - z_0 (the demographic-parity variant of Zhang et al.).
Each step:

- the classifier descends sqrt(B) (mean CE + lambda L_adv) where L_adv's gradient reaches the classifier
  through the reversal layer, so the classifier *ascends* the adversary's loss: d/dtheta = -lambda dL_adv/dtheta;
- the adversary descends its own loss L_adv (the margin detached) with Adam at the run's learning rate,
  from the same parameters phi the classifier's penalty used.

Zhang et al. also subtract the projection of the classifier's gradient onto the adversary's; like FFB we
keep the plain reversal. lambda = 0 is ERM (the adversary trains but has no say). The adversary's initial
weights come from the run's seed (:attr:`fairbench.method.base.TrainingData.seed`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from fairbench.method.base import Method, StepInputs, StepWeights, TrainingData

#: Hidden units of the adversary.
ADVERSARY_WIDTH = 16


class GradientReversal(torch.autograd.Function):
    """Identity forward, negated gradient backward."""

    @staticmethod
    def forward(ctx: object, x: Tensor) -> Tensor:  # noqa: D102
        return x.view_as(x)

    @staticmethod
    def backward(ctx: object, grad: Tensor) -> Tensor:  # noqa: D102
        return -grad


def logit_margin(logits: Tensor) -> Tensor:
    """(B, 1) adversary input: z_1 - z_0."""
    return (logits[:, 1] - logits[:, 0]).unsqueeze(1)


class AdversarialDebiasing(Method):
    """ERM's weights plus the reversed adversary loss; the adversary has its own parameters and optimiser."""

    name = "adv_debias"
    label = "Adv. debiasing"
    penalises_logits = True

    def __init__(self, lam: float, lr: float) -> None:
        if not lam >= 0 or not math.isfinite(lam):
            raise ValueError(f"the adversary's lambda must be a finite number >= 0 (got {lam!r}); set fair_lambda")
        self.lam, self.lr = lam, lr
        self.adversary: nn.Module | None = None
        self.optimiser: torch.optim.Optimizer | None = None

    def prepare(self, train: TrainingData) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(train.seed)
            self.adversary = nn.Sequential(nn.Linear(1, ADVERSARY_WIDTH), nn.ReLU(),
                                           nn.Linear(ADVERSARY_WIDTH, train.n_groups)).double()
        self.optimiser = torch.optim.Adam(self.adversary.parameters(), lr=self.lr)

    def sample_weights(self, step: StepInputs) -> StepWeights:
        B = step.losses.shape[0]
        return StepWeights(torch.full((B,), 1.0 / math.sqrt(B), dtype=step.losses.dtype))

    def adversary_loss(self, logits: Tensor, group: Tensor, params: dict[str, Tensor] | None = None,
                       reverse: bool = True) -> Tensor:
        """Mean CE of the adversary predicting ``group`` from ``logits`` at ``params`` (its current ones when
        None); ``reverse`` puts the reversal layer between the logits and the adversary."""
        assert self.adversary is not None, "prepare() must run before training"
        margin = logit_margin(logits).double()
        if reverse:
            margin = GradientReversal.apply(margin)
        out = self.adversary(margin) if params is None else functional_call(self.adversary, params, (margin,))
        return F.cross_entropy(out, group)

    def logit_penalty(self, logits: Tensor, step: StepInputs) -> Tensor:
        assert self.adversary is not None and self.optimiser is not None, "prepare() must run before training"
        self.adversary.to(logits.device)
        snapshot = {k: v.detach().clone() for k, v in self.adversary.named_parameters()}
        penalty = self.adversary_loss(logits, step.group, snapshot)
        self.optimiser.zero_grad()
        with torch.enable_grad():
            self.adversary_loss(logits.detach(), step.group, reverse=False).backward()
        self.optimiser.step()
        return (math.sqrt(logits.shape[0]) * self.lam * penalty).to(logits.dtype)
