"""The paper's MLP ``d -> 128 -> 64 -> 2`` (ReLU, dropout) as an ``nn.Module`` (docs/method.md §1).

The same network as :mod:`fairbench.models.functional_mlp`, whose functional form the fast meta step uses; this one
runs through the generic ``torch.func`` step (:mod:`fairbench.method.meta_functional`) and converts to and
from :class:`fairbench.models.functional_mlp.MLPParams`, so both paths can be compared on equal weights.
"""

from __future__ import annotations

from torch import Tensor, nn

from fairbench.models.functional_mlp import HIDDEN_SIZES, N_CLASSES, MLPParams


class MLP(nn.Module):
    """``Linear -> ReLU -> Dropout -> Linear -> ReLU -> Dropout -> Linear`` (flat input)."""

    def __init__(self, n_features: int, input_shape: tuple[int, int, int] | None = None, *,
                 dropout: float = 0.0, hidden: tuple[int, int] = HIDDEN_SIZES) -> None:
        super().__init__()
        self.fc1 = nn.Linear(n_features, hidden[0])
        self.fc2 = nn.Linear(hidden[0], hidden[1])
        self.fc3 = nn.Linear(hidden[1], N_CLASSES)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = self.drop(self.fc1(x).relu())
        h = self.drop(self.fc2(h).relu())
        return self.fc3(h)

    def load_params(self, params: MLPParams) -> MLP:
        """Copy the weights of the functional MLP into this module (in place); returns ``self``."""
        for target, source in zip(self.parameters(), params, strict=True):
            target.data.copy_(source)
        return self

    def to_params(self) -> MLPParams:
        """The weights as :class:`fairbench.models.functional_mlp.MLPParams` (detached)."""
        return MLPParams(*(p.detach() for p in self.parameters()))
