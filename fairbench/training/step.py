"""The trainer's model seam (docs/architecture.md): what one training step of a model must do.

The training loop (:func:`fairbench.training.loop.train`) is one loop for every model; it talks to a
:class:`ModelStep`, which holds the weights and takes one step of docs/method.md §2 (meta step if the
method needs it, then the weighted real step). Two implementations, chosen by the model
(:func:`fairbench.training.loop.build_step`): :class:`fairbench.training.mlp_step.MLPStep`, the MLP's
hand-written fast path, and :class:`fairbench.training.generic_step.GenericStep`, any ``nn.Module``
through ``torch.func``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol as TypingProtocol

import torch
from torch import Tensor

from fairbench.method.base import Method

NON_FINITE_MESSAGE = ("non-finite training loss ({value}) at epoch {epoch}, batch {batch} of {method} "
                      "on {setting} (seed {seed}); lower the learning rate (--lr) or check the data")


class NonFiniteLossError(FloatingPointError):
    """Raised when a training loss or weight becomes NaN or infinite."""


@dataclass(frozen=True)
class StepRecord:
    """What one training step reports: the mean batch loss, the validation cell losses before and
    after the step (eval mode) and the method's diagnostics."""

    loss: float
    cell_loss_before: Tensor
    cell_loss_after: Tensor
    diagnostics: dict[str, float]


#: A cell's validation loss "rose" in a step only when it grew by more than this many machine epsilons
#: of its float type, relative to its value (docs/method.md, "Diagnostics"; float32: 1.5e-5 of it). The
#: loss after a step differs between CPUs in its last digits (their kernels sum in different orders), so
#: an exact comparison turns a near-tie into a rise on one machine and an improvement on another. 128 is
#: of the order of the longest sums in the MLP's forward pass (its 128-wide hidden layer): a sum of n
#: rounded terms may be off by n epsilons of its magnitude (Higham, Accuracy and Stability of Numerical
#: Algorithms, §3.1). run.json records the value (``diagnostics.pareto_tolerance_ulps``).
PARETO_ULPS = 128


def pareto_tolerance(before: Tensor) -> Tensor:
    """How much each cell's loss may grow in a step and still not count as risen: :data:`PARETO_ULPS`
    epsilons of its float type, relative to its value before the step."""
    return PARETO_ULPS * torch.finfo(before.dtype).eps * before.abs()


def pareto_improved(before: Tensor, after: Tensor) -> float:
    """1.0 when no cell's validation loss rose beyond :func:`pareto_tolerance` in the step, else 0.0."""
    return float(bool((after <= before + pareto_tolerance(before)).all()))


def non_finite_error(method: Method, label: tuple[str, int], value: object, epoch: int,
                     batch: int) -> NonFiniteLossError:
    """The error of a step whose loss, weights or hypergradients are not finite."""
    return NonFiniteLossError(NON_FINITE_MESSAGE.format(value=value, epoch=epoch, batch=batch, method=method.name,
                                                        setting=label[0], seed=label[1]))


class ModelStep(TypingProtocol):
    """One model's weights and training step; the seam between the loop and a model's arithmetic."""

    params: tuple[Tensor, ...]

    def logits(self, x: Tensor) -> Tensor:
        """Eval-mode logits (no dropout) of ``x`` at the current weights."""

    def step(self, x: Tensor, y: Tensor, group: Tensor, epoch: int, batch: int = 0) -> StepRecord:
        """One training step on the batch (x, y, group); docs/method.md §2."""
