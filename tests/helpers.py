"""Small synthetic problems shared by the learning-core tests."""

from __future__ import annotations

import torch

from fairbench.method.meta import ValidationSet
from fairbench.models.functional_mlp import MLPParams, draw_dropout_masks, init_mlp


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


def synthetic_split(*, n_train: int = 96, n_features: int = 5, n_groups: int = 2, val_per_cell: int = 2,
                    n_test: int = 40, seed: int = 0):
    """A small, learnable SplitData: the label depends on the features and, weakly, on the group."""
    import numpy as np

    from fairbench.data import Part, SplitData

    rng = np.random.default_rng(seed)

    def part(n: int, balanced: bool) -> Part:
        if balanced:
            cell = np.repeat(np.arange(2 * n_groups), n // (2 * n_groups))
            group, y = cell // 2, cell % 2
            X = rng.normal(size=(len(cell), n_features))
            X[:, 0] = 0.3 - 0.5 * group + (2 * y - 1) * np.abs(rng.normal(size=len(cell)))
        else:
            group = rng.integers(0, n_groups, size=n)
            X = rng.normal(size=(n, n_features))
            y = ((X[:, 0] + 0.5 * group + 0.3 * rng.normal(size=n)) > 0.3).astype(np.int64)
            cell = group * 2 + y
        return Part(X=X.astype(np.float32), y=y.astype(np.int64), group=group.astype(np.int64),
                    cell=cell.astype(np.int64), index=np.arange(len(y), dtype=np.int64))

    groups = [f"g{g}" for g in range(n_groups)]
    return SplitData(setting="synthetic", split="seed0", feature_names=[f"x{i}" for i in range(n_features)],
                     group_names=groups, cell_names=[f"{g}|y={y}" for g in groups for y in (0, 1)],
                     train=part(n_train, False), val=part(val_per_cell * 2 * n_groups, True),
                     test=part(n_test, True))
