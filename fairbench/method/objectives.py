"""Meta objectives over per-cell validation losses (docs/method.md §3).

Every objective used here is piecewise linear in the cell losses L_c, so its eps-gradient is a
combination of the rows of the hypergradient matrix: d = w^T G with w = dObjective/dL (a K-vector).
An objective therefore only has to say which cell coefficients w it puts on the current losses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import Tensor

from fairbench.method.meta import ValidationSet


def group_coefficients(val: ValidationSet) -> Tensor:
    """(G x K) matrix C with C[g, c] = n_c / n_g for the cells of group g, so that L_g = C @ L_cells."""
    n_groups = val.n_groups
    member = (val.group_of_cell[None, :] == torch.arange(n_groups)[:, None]).to(val.cell_sizes.dtype)
    sizes = member * val.cell_sizes[None, :]
    return sizes / sizes.sum(dim=1, keepdim=True)


class Objective(ABC):
    """A meta objective F(L_1..L_K); ``cell_coefficients`` returns dF/dL at the given losses."""

    name: ClassVar[str]

    @abstractmethod
    def cell_coefficients(self, cell_losses: Tensor, val: ValidationSet) -> Tensor:
        """K-vector w such that the objective's eps-gradient is ``w @ G``."""

    def direction(self, G: Tensor, cell_losses: Tensor, val: ValidationSet) -> Tensor:
        """The objective's eps-gradient d = w^T G (a B-vector)."""
        return self.cell_coefficients(cell_losses, val).to(G.dtype) @ G
