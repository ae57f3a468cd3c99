"""What a training method is: a rule that turns one mini-batch into per-sample weights.

The trainer computes the per-sample cross-entropy CE_j of the batch and takes an SGD step on
sum_j w_j CE_j (docs/method.md §2, step 8). Methods differ only in how they choose w.
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


@dataclass(frozen=True)
class StepInputs:
    """One mini-batch as a method sees it; ``hyper`` is set for meta methods only."""

    epoch: int
    y: Tensor
    group: Tensor
    losses: Tensor  # per-sample CE of the real pass, detached
    hyper: Hypergradients | None = None

    def on_cpu(self) -> StepInputs:
        """The same inputs on the CPU, where every method chooses its weights (the K x B solves run
        in NumPy); the identity for a run on the CPU."""
        if self.losses.device.type == "cpu":
            return self
        hyper = None if self.hyper is None else replace(self.hyper, G=self.hyper.G.cpu(),
                                                        cell_losses=self.hyper.cell_losses.cpu(),
                                                        train_first_layer=None)
        return replace(self, y=self.y.cpu(), group=self.group.cpu(), losses=self.losses.cpu(), hyper=hyper)


@dataclass(frozen=True)
class StepWeights:
    """Per-sample weights w (B,) plus per-batch diagnostics (averaged per epoch by the trainer)."""

    weights: Tensor
    diagnostics: dict[str, float] = field(default_factory=dict)


class Method(ABC):
    """Base class of every training method; ``uses_meta`` asks the trainer for hypergradients."""

    name: ClassVar[str] = ""
    uses_meta: ClassVar[bool] = False

    def prepare(self, train: TrainingData) -> None:  # noqa: B027 - optional hook
        """Called once before training; methods that need training-set statistics override it."""

    @abstractmethod
    def sample_weights(self, step: StepInputs) -> StepWeights:
        """Weights of this batch's per-sample losses."""
