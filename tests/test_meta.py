"""Hypergradients: the fast factorised path against torch.func, double backward and finite differences."""

from __future__ import annotations

import pytest
import torch

from fairbench.method.meta import (ValidationSet, clip_and_normalise, hypergradients, hypergradients_autograd,
                            hypergradients_functorch, meta_loss_per_example, soft_f1_surrogate)
from fairbench.models.functional_mlp import MLPParams, mlp_logits
from fairbench.models.optim import SGDConfig, lookahead_base
from tests.helpers import synthetic_problem

OPT = SGDConfig(lr=0.1, momentum=0.9, weight_decay=5e-4)


def _cell_losses_at(eps: torch.Tensor, params, buf, x, y, val, train_masks, val_masks) -> torch.Tensor:
    """L_c(theta'(eps)) computed directly from the definition of the look-ahead (docs/method.md §2)."""
    live = MLPParams(*(p.detach().requires_grad_(True) for p in params))
    ce = torch.nn.functional.cross_entropy(mlp_logits(live, x, train_masks), y, reduction="none")
    grads = torch.autograd.grad((eps * ce).sum(), live)
    base = lookahead_base(params, buf, OPT)
    theta = MLPParams(*(b - OPT.lr * g for b, g in zip(base, grads)))
    with torch.no_grad():
        return val.cell_mean @ meta_loss_per_example(mlp_logits(theta, val.x, val_masks), val.y)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("with_momentum", [True, False])
@pytest.mark.parametrize("n_groups", [2, 5])
def test_three_backends_agree(seed: int, with_momentum: bool, n_groups: int) -> None:
    problem = synthetic_problem(seed=seed, n_groups=n_groups, with_momentum=with_momentum)
    fast = hypergradients(*problem[:5], OPT, *problem[5:])
    func = hypergradients_functorch(*problem[:5], OPT, *problem[5:])
    ref = hypergradients_autograd(*problem[:5], OPT, *problem[5:])
    assert fast.G.shape == (2 * n_groups, 16)
    scale = ref.G.abs().max()
    assert scale > 0
    torch.testing.assert_close(fast.G, ref.G, rtol=0, atol=1e-12 * float(scale) + 1e-15)
    torch.testing.assert_close(func.G, ref.G, rtol=0, atol=1e-12 * float(scale) + 1e-15)
    torch.testing.assert_close(fast.cell_losses, ref.cell_losses)


@pytest.mark.parametrize("seed", range(3))
def test_matches_finite_differences_on_eps(seed: int) -> None:
    params, buf, x, y, val, tm, vm = synthetic_problem(seed=seed, batch=8)
    G = hypergradients(params, buf, x, y, val, OPT, tm, vm).G
    h = 1e-5
    for j in range(x.shape[0]):
        e = torch.zeros(x.shape[0], dtype=x.dtype)
        e[j] = h
        fd = (_cell_losses_at(e, params, buf, x, y, val, tm, vm) - _cell_losses_at(-e, params, buf, x, y, val, tm, vm)) / (2 * h)
        torch.testing.assert_close(G[:, j], fd, rtol=1e-6, atol=1e-10)


def test_float32_matches_reference_to_1e6() -> None:
    problem = synthetic_problem(seed=3, dtype=torch.float32, batch=64, n_features=30)
    fast = hypergradients(*problem[:5], OPT, *problem[5:]).G
    ref = hypergradients_autograd(*problem[:5], OPT, *problem[5:]).G
    assert float((fast - ref).abs().max() / ref.abs().max()) < 1e-6


def test_without_dropout_masks() -> None:
    params, buf, x, y, val, _, _ = synthetic_problem(seed=1)
    none = type(synthetic_problem()[5])(None, None)
    fast = hypergradients(params, buf, x, y, val, OPT, none, none).G
    ref = hypergradients_autograd(params, buf, x, y, val, OPT, none, none).G
    torch.testing.assert_close(fast, ref)


def test_soft_f1_surrogate_formula() -> None:
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.25]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    s = torch.sigmoid(torch.tensor([2.0, 0.25], dtype=torch.float64))
    torch.testing.assert_close(soft_f1_surrogate(logits, y), torch.sigmoid(-2 * s / (1 + s)))


def test_clip_and_normalise() -> None:
    d = torch.tensor([1.0, -3.0, -4.0, 0.0])
    torch.testing.assert_close(clip_and_normalise(d), torch.tensor([0.0, 0.6, 0.8, 0.0]))
    torch.testing.assert_close(clip_and_normalise(d, "sum"), torch.tensor([0.0, 3 / 7, 4 / 7, 0.0]))
    assert torch.equal(clip_and_normalise(torch.ones(3)), torch.zeros(3))
    with pytest.raises(ValueError, match="unknown weight normalisation"):
        clip_and_normalise(d, "l1")


def test_validation_set_requires_every_cell() -> None:
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match=r"no example in cell\(s\) \[3\]"):
        ValidationSet.build(x, torch.tensor([0, 1, 0]), torch.tensor([0, 0, 1]), 2)
