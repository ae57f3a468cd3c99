"""Meta-gDRO: the group-DRO objective (Sagawa et al., ICLR 2020, https://arxiv.org/abs/1911.08731)
used as a meta objective on the validation set: max_g L_g (docs/method.md §3)."""

from __future__ import annotations

import torch
from torch import Tensor

from fairbench.method.meta import ValidationSet
from fairbench.method.objectives import Objective, group_coefficients


class MetaGroupDRO(Objective):
    """max_g L_g; w = C[argmax] (first index on ties)."""

    name = "meta_gdro"

    def cell_coefficients(self, cell_losses: Tensor, val: ValidationSet) -> Tensor:
        C = group_coefficients(val)
        return C[int(torch.argmax(C @ cell_losses.to(C.dtype)))]
