"""The hand-written real step (fairbench.models.backprop) against autograd: bitwise equal, not just close."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fairbench.models import backprop
from fairbench.method.meta import hypergradients
from fairbench.models.functional_mlp import NO_DROPOUT, MLPParams, draw_dropout_masks, init_mlp, mlp_logits
from fairbench.models.optim import SGDConfig
from tests.helpers import synthetic_problem


def _autograd(params: MLPParams, x, y, masks, weights):
    live = MLPParams(*(p.detach().requires_grad_(True) for p in params))
    losses = F.cross_entropy(mlp_logits(live, x, masks), y, reduction="none")
    grads = torch.autograd.grad((weights * losses).sum(), live)
    return losses.detach(), MLPParams(*grads)


def _problem(n_features: int, batch: int, dropout: float, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    params = init_mlp(n_features, generator=g)
    x = torch.randn(batch, n_features, generator=g)
    y = torch.randint(0, 2, (batch,), generator=g)
    masks = draw_dropout_masks(batch, dropout, g) if dropout > 0 else NO_DROPOUT
    weights = torch.rand(batch, generator=g)
    weights[::3] = 0.0  # clipped weights are often exactly zero
    return params, x, y, masks, weights


@pytest.mark.parametrize(("n_features", "batch", "dropout"),
                         [(105, 512, 0.2), (58, 32, 0.05), (1929, 32, 0.2), (1526, 128, 0.4), (24, 64, 0.0)])
def test_gradients_are_bitwise_those_of_autograd(n_features: int, batch: int, dropout: float) -> None:
    params, x, y, masks, weights = _problem(n_features, batch, dropout)
    losses, grads = _autograd(params, x, y, masks, weights)
    fp = backprop.forward(params, x, y, masks)
    assert torch.equal(fp.losses, losses)
    for name, ours, reference in zip(MLPParams._fields, backprop.weighted_gradients(params, fp, weights), grads):
        assert torch.equal(ours, reference), name


def test_reusing_the_first_layer_changes_nothing() -> None:
    params, x, y, masks, weights = _problem(105, 256, 0.3)
    z1 = backprop.first_layer(params, x)
    fresh, reused = backprop.forward(params, x, y, masks), backprop.forward(params, x, y, masks, z1=z1)
    assert torch.equal(fresh.losses, reused.losses)
    for a, b in zip(backprop.weighted_gradients(params, fresh, weights),
                    backprop.weighted_gradients(params, reused, weights)):
        assert torch.equal(a, b)


def test_the_meta_step_hands_over_the_first_layer_of_the_real_step() -> None:
    params, buf, x, y, val, train_masks, val_masks = synthetic_problem(dtype=torch.float32)
    hyper = hypergradients(params, buf, x, y, val, SGDConfig(lr=0.1), train_masks, val_masks)
    assert torch.equal(hyper.train_first_layer, backprop.first_layer(params, x))


def test_a_wrong_weight_changes_the_gradient() -> None:
    params, x, y, masks, weights = _problem(20, 16, 0.2)
    fp = backprop.forward(params, x, y, masks)
    base = backprop.weighted_gradients(params, fp, weights)
    bumped = weights.clone()
    bumped[1] += 0.5
    assert not torch.equal(backprop.weighted_gradients(params, fp, bumped).w1, base.w1)
