"""Small synthetic problems shared by the learning-core tests."""

from __future__ import annotations

import torch

from fairbench.meta import ValidationSet
from fairbench.model import MLPParams, draw_dropout_masks, init_mlp


def synthetic_problem(*, n_features: int = 7, batch: int = 16, n_groups: int = 2, per_cell: int = 2,
                      dropout: float = 0.3, dtype: torch.dtype = torch.float64, seed: int = 0,
                      with_momentum: bool = True):
    """Random MLP, momentum buffer, training batch, validation set and dropout draws."""
    g = torch.Generator().manual_seed(seed)
    params = MLPParams(*(p.to(dtype) for p in init_mlp(n_features, generator=g)))
    buf = MLPParams(*(0.05 * torch.randn(p.shape, generator=g, dtype=dtype) for p in params)) if with_momentum else None
    x = torch.randn(batch, n_features, generator=g, dtype=dtype)
    y = torch.randint(0, 2, (batch,), generator=g)
    n_cells = 2 * n_groups
    cells = torch.arange(n_cells).repeat_interleave(per_cell)
    xv = torch.randn(len(cells), n_features, generator=g, dtype=dtype)
    val = ValidationSet.build(xv, cells % 2, cells // 2, n_groups)
    train_masks = draw_dropout_masks(batch, dropout, g)
    val_masks = draw_dropout_masks(len(cells), dropout, g)
    cast = lambda m: type(m)(*(None if t is None else t.to(dtype) for t in m))  # noqa: E731
    return params, buf, x, y, val, cast(train_masks), cast(val_masks)
