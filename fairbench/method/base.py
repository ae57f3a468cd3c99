"""What a training method is: a rule that turns one mini-batch into per-sample weights.

The trainer computes the per-sample cross-entropy CE_j of the batch and takes an SGD step on
sum_j w_j CE_j (docs/method.md §2, step 8). Methods differ in how they choose w, and two optional
extensions of the step (docs/method.md §6):

- a method may add a differentiable penalty on the batch's logits (:meth:`Method.logit_penalty`, the
  in-processing fairness regularisers and the adversary); the step is then sum_j w_j CE_j + penalty,
  differentiated by autograd;
- a method may ask for the Gramian of the batch's per-cell *training*-loss gradients
  (:meth:`Method.needs_train_gram`, bargaining over training gradients: Nash-MTL, FairGrad).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import ClassVar

from torch import Tensor

from fairbench.method.meta import Hypergradients


@dataclass(frozen=True)
class TrainingData:
    """What a method may look at once before training (labels and groups of the training set)."""

    y: Tensor
    group: Tensor
    n_groups: int
    seed: int = 0  # the run's seed for a method's own random stream (e.g. an adversary's initial weights)


@dataclass(frozen=True)
class StepInputs:
    """One mini-batch as a method sees it; ``hyper`` is set for meta methods only."""

    epoch: int
    y: Tensor
    group: Tensor
    losses: Tensor  # per-sample CE of the real pass, detached
    hyper: Hypergradients | None = None
    #: (K, K) float64 Gramian <grad L_c, grad L_c'> of the batch's per-cell mean training losses L_c
    #: (cell = 2 group + y, the real pass's dropout masks); set when ``needs_train_gram(epoch)``
    train_gram: Tensor | None = None

    def on_cpu(self) -> StepInputs:
        """The same inputs on the CPU, where every method chooses its weights (the K x B solves run
        in NumPy); the identity for a run on the CPU."""
        if self.losses.device.type == "cpu":
            return self
        hyper = None if self.hyper is None else replace(self.hyper, G=self.hyper.G.cpu(),
                                                        cell_losses=self.hyper.cell_losses.cpu(),
                                                        train_first_layer=None)
        gram = None if self.train_gram is None else self.train_gram.cpu()
        return replace(self, y=self.y.cpu(), group=self.group.cpu(), losses=self.losses.cpu(), hyper=hyper,
                       train_gram=gram)


@dataclass(frozen=True)
class StepWeights:
    """Per-sample weights w (B,) plus per-batch diagnostics (averaged per epoch by the trainer)."""

    weights: Tensor
    diagnostics: dict[str, float] = field(default_factory=dict)


class Method(ABC):
    """Base class of every training method; ``uses_meta`` asks the trainer for hypergradients,
    ``penalises_logits`` makes it call :meth:`logit_penalty` (through autograd)."""

    name: ClassVar[str] = ""
    uses_meta: ClassVar[bool] = False
    penalises_logits: ClassVar[bool] = False

    def prepare(self, train: TrainingData) -> None:  # noqa: B027 - optional hook
        """Called once before training; methods that need training-set statistics override it."""

    @abstractmethod
    def sample_weights(self, step: StepInputs) -> StepWeights:
        """Weights of this batch's per-sample losses."""

    def needs_train_gram(self, epoch: int) -> bool:
        """Whether this epoch's steps need :attr:`StepInputs.train_gram` (computing it costs a pass)."""
        return False

    def logit_penalty(self, logits: Tensor, step: StepInputs) -> Tensor:
        """A differentiable penalty added to sum_j w_j CE_j, from the batch's training-mode logits (B, 2)
        (``step`` as given to :meth:`sample_weights`, on the logits' device). Only called when
        ``penalises_logits`` is set."""
        raise NotImplementedError(f"{type(self).__name__} sets penalises_logits but has no logit_penalty")
