"""The generic torch.func meta step (fairbench/method/meta_functional.py) against the MLP's fast path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from helpers import synthetic_problem, synthetic_split

from fairbench.models import backprop
from fairbench.hparams import HyperParams
from fairbench.method.meta import ValidationSet, hypergradients
from fairbench.method.meta_functional import hypergradients_generic
from fairbench.models.functional import FunctionalModel, seeded
from fairbench.models.functional_mlp import HIDDEN_SIZES, DropoutMasks
from fairbench.models.mlp import MLP
from fairbench.models.optim import SGDConfig
from fairbench.evaluation.protocols import get_protocol
from fairbench.registry import build_method
from fairbench.training.loop import train

OPT = SGDConfig(lr=0.05, momentum=0.9, weight_decay=5e-4)
DROPOUT = 0.3
#: Columns whose value is amplified by the bargaining solve (docs/method.md §4): alpha_c = 1 / <d, g_c>.
ALPHA_COLUMNS = ("alpha_mean",)


def _masks_from_seed(seed: int, rows: int, dtype: torch.dtype) -> DropoutMasks:
    """The masks the module's two ``nn.Dropout`` layers draw after ``torch.manual_seed(seed)``."""
    with seeded(seed, torch.device("cpu")):
        return DropoutMasks(*(F.dropout(torch.ones(rows, width, dtype=dtype), DROPOUT, training=True)
                              for width in HIDDEN_SIZES))


def _module(params, dtype: torch.dtype) -> FunctionalModel:
    return FunctionalModel(MLP(params.w1.shape[1], dropout=DROPOUT).to(dtype).load_params(params))


@pytest.mark.parametrize(("dtype", "rtol"), [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_generic_hypergradients_match_the_fast_path_with_the_same_dropout_masks(dtype, rtol) -> None:
    params, buf, x, y, val, _, _ = synthetic_problem(dtype=dtype, dropout=DROPOUT, batch=24)
    train_seed, val_seed = 11, 12
    fast = hypergradients(params, buf, x, y, val, OPT, _masks_from_seed(train_seed, x.shape[0], dtype),
                          _masks_from_seed(val_seed, val.x.shape[0], dtype))
    generic = hypergradients_generic(_module(params, dtype), tuple(params), tuple(buf), x, y, val, OPT,
                                     train_seed=train_seed, val_seed=val_seed)
    assert fast.G.shape == generic.G.shape == (val.n_cells, x.shape[0])
    scale = float(fast.G.abs().max())
    assert scale > 0
    torch.testing.assert_close(generic.G, fast.G, rtol=rtol, atol=rtol * scale)
    torch.testing.assert_close(generic.cell_losses, fast.cell_losses, rtol=rtol, atol=0.0)


def test_masks_differ_between_seeds_so_the_mask_check_has_teeth() -> None:
    params, buf, x, y, val, _, _ = synthetic_problem(dropout=DROPOUT, batch=24)
    fast = hypergradients(params, buf, x, y, val, OPT, _masks_from_seed(1, x.shape[0], x.dtype),
                          _masks_from_seed(2, val.x.shape[0], x.dtype))
    generic = hypergradients_generic(_module(params, x.dtype), tuple(params), tuple(buf), x, y, val, OPT,
                                     train_seed=3, val_seed=2)
    assert not torch.allclose(generic.G, fast.G, rtol=1e-3)


def test_generic_real_step_gradients_match_the_hand_written_backprop() -> None:
    params, _, x, y, _, _, _ = synthetic_problem(dropout=DROPOUT, batch=24)
    model = _module(params, x.dtype)
    weights = torch.rand(x.shape[0], generator=torch.Generator().manual_seed(0), dtype=x.dtype)
    live = tuple(p.clone().requires_grad_(True) for p in params)
    with seeded(5, x.device):
        losses = F.cross_entropy(model(live, x, train=True), y, reduction="none")
    grads = torch.autograd.grad((weights * losses).sum(), live)
    cache = backprop.forward(params, x, y, _masks_from_seed(5, x.shape[0], x.dtype))
    torch.testing.assert_close(losses.detach(), cache.losses, rtol=1e-12, atol=0.0)
    for ours, theirs in zip(grads, backprop.weighted_gradients(params, cache, weights), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)


def test_vmapped_passes_share_one_mask_and_leave_the_global_generator_alone() -> None:
    params, buf, x, y, val, _, _ = synthetic_problem(dropout=DROPOUT, batch=24)
    model = _module(params, x.dtype)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = hypergradients_generic(model, tuple(params), tuple(buf), x, y, val, OPT, train_seed=7, val_seed=8)
    assert torch.equal(torch.rand(3), expected)
    again = hypergradients_generic(model, tuple(params), tuple(buf), x, y, val, OPT, train_seed=7, val_seed=8)
    assert torch.equal(first.G, again.G)


def _run(method: str, backend: str, dropout: float = 0.0) -> pd.DataFrame:
    data = synthetic_split(n_train=96)
    protocol = get_protocol("standard")
    hp = HyperParams(lr=0.05, dropout=dropout, batch_size=16, epochs=3, bargain_epochs=2, val_per_cell=2,
                     hypergradient_backend=backend)
    va = data.val.to_torch()
    built = build_method(method, hp, protocol, ValidationSet.build(va.X, va.y, va.group, data.n_groups))
    return pd.DataFrame(train(data, built, hp, protocol, 0, progress=False).rows).drop(columns="epoch_seconds")


def _float32_tolerance(fast: pd.DataFrame) -> np.ndarray:
    """Per-value tolerance of the two float32 paths, which differ only in the order of their sums.

    Each training step rounds the weights to float32 (relative error eps), in each path differently, so
    after S steps they stand up to S * eps apart, relative: each number of epoch e may differ by
    ``S_e * eps * max(|value|, 1)`` (the 1 for the values near zero: losses, AUCs and rates are of order
    one). ``alpha_mean`` averages ``alpha_c = 1 / <d, g_c>`` with d and g_c scaled to unit size (M of unit
    Frobenius norm), an inner product whose absolute error S * eps becomes a relative error
    S * eps * alpha of alpha: its tolerance is that times its magnitude, S * eps * alpha^2.
    """
    eps = np.finfo(np.float32).eps
    values = np.abs(fast.to_numpy(float))
    steps = fast["steps"].to_numpy(float)[:, None]
    scale = np.maximum(values, 1.0)
    alpha = [list(fast.columns).index(c) for c in ALPHA_COLUMNS if c in fast.columns]
    scale[:, alpha] *= np.maximum(values[:, alpha], 1.0)
    return np.nan_to_num(steps * eps * scale, nan=0.0)


@pytest.mark.parametrize("method", ["erm", "ltr", "nbs_ltr"])
def test_generic_training_matches_the_fast_path_over_epochs(method: str) -> None:
    """Without dropout both paths draw no random numbers besides the shared shuffling, so every
    per-epoch number agrees to float tolerance."""
    fast, generic = _run(method, "factorised"), _run(method, "generic")
    assert list(fast.columns) == list(generic.columns)
    ours, theirs, tolerance = generic.to_numpy(float), fast.to_numpy(float), _float32_tolerance(fast)
    apart = ~((np.abs(ours - theirs) <= tolerance) | (np.isnan(ours) & np.isnan(theirs)))
    rows, cols = np.nonzero(apart)
    assert not apart.any(), [(int(fast["epoch"].iloc[r]), fast.columns[c], ours[r, c], theirs[r, c], tolerance[r, c])
                             for r, c in zip(rows, cols, strict=True)]
    assert fast["train_loss"].iloc[-1] < fast["train_loss"].iloc[0]


def test_generic_training_is_reproducible_with_dropout() -> None:
    first, second = _run("ltr", "generic", dropout=0.3), _run("ltr", "generic", dropout=0.3)
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    assert not np.allclose(first["train_loss"], _run("ltr", "generic")["train_loss"])
