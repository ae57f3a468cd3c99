"""Bargaining over training-loss gradients: the per-cell Gramian, Nash-MTL and FairGrad, standalone and
in the two-stage template."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from baselines.fairgrad import FairGrad, solve_alpha_fair
from baselines.nash_mtl import NashMTL
from fairbench.evaluation.protocols import get_protocol
from fairbench.hparams import HyperParams
from fairbench.method.base import StepInputs
from fairbench.method.meta import ValidationSet
from fairbench.method.nbs import NashBargaining
from fairbench.method.train_bargain import TrainingGradientBargaining
from fairbench.method.train_gram import autograd_train_gram, batch_cells, cell_weights_to_samples, mlp_train_gram
from fairbench.models.functional_mlp import MLPParams, draw_dropout_masks, mlp_logits
from fairbench.registry import build_method
from fairbench.training.init import initial_params
from fairbench.training.loop import train
from tests.helpers import synthetic_split

EPS64 = torch.finfo(torch.float64).eps
HP = HyperParams(lr=0.05, dropout=0.2, batch_size=16, epochs=2, bargain_epochs=1, val_per_cell=2)


def _batch(n_groups: int = 2, batch: int = 64, seed: int = 0):
    """Float64 MLP weights, a batch with every cell present, and one dropout draw."""
    data = synthetic_split(n_train=batch, n_groups=n_groups, seed=seed)
    tr = data.train.to_torch()
    params = MLPParams(*(p.double() for p in initial_params(data.n_features, seed, get_protocol("standard"))))
    masks = draw_dropout_masks(batch, 0.2, torch.Generator().manual_seed(seed))
    masks = type(masks)(*(None if m is None else m.double() for m in masks))
    return params, tr.X.double(), tr.y, tr.group, masks, 2 * n_groups


def _gram(params, x, y, group, masks, k):
    return mlp_train_gram(params, x, y, masks, batch_cells(y, group), k)


@pytest.mark.parametrize("n_groups", [2, 3])
def test_factorised_gram_equals_autograd(n_groups: int) -> None:
    params, x, y, group, masks, k = _batch(n_groups)
    live = tuple(p.detach().requires_grad_(True) for p in params)
    losses = F.cross_entropy(mlp_logits(MLPParams(*live), x, masks), y, reduction="none")
    expected = autograd_train_gram(losses, live, batch_cells(y, group), k)
    got = _gram(params, x, y, group, masks, k)
    scale = float(expected.abs().max())
    torch.testing.assert_close(got, expected, rtol=0, atol=1e3 * EPS64 * scale)


def test_absent_cells_sit_out() -> None:
    params, x, y, group, masks, k = _batch()
    keep = batch_cells(y, group) != 3
    gram = _gram(params, x[keep], y[keep], group[keep], masks._replace(
        h1=None if masks.h1 is None else masks.h1[keep], h2=None if masks.h2 is None else masks.h2[keep]), k)
    assert float(gram[3].abs().max()) == 0.0
    for weighting in (NashMTL(), FairGrad(1.0)):
        result = weighting(gram)
        assert result.success and float(result.alpha[3]) == 0.0 and bool((result.alpha[:3] > 0).all())


def test_nash_mtl_weights_meet_the_bargaining_conditions() -> None:
    """alpha_c (M alpha)_c = 1 to 1e-6 on the batch's training-gradient Gramian, and the method's sample
    weights are alpha_{c(j)} / n_{c(j)}, normalised."""
    params, x, y, group, masks, k = _batch(n_groups=3)
    gram = _gram(params, x, y, group, masks, k)
    alpha = NashMTL()(gram).alpha
    conditions = alpha * (gram @ alpha)
    assert float((conditions - 1.0).abs().max()) <= 1e-6
    method = TrainingGradientBargaining("nash_mtl", NashMTL())
    step = StepInputs(epoch=1, y=y, group=group, losses=torch.zeros(len(y), dtype=torch.float64), train_gram=gram)
    weights = method.sample_weights(step).weights
    cells = batch_cells(y, group)
    counts = torch.bincount(cells, minlength=k).double()
    recovered = torch.stack([weights[cells == c][0] for c in range(k)]) * counts
    recovered = recovered / torch.sqrt(recovered @ gram @ recovered / k)  # the scale where the mean condition is 1
    assert float((recovered * (gram @ recovered) - 1.0).abs().max()) <= 1e-6
    assert float(torch.linalg.vector_norm(weights)) == pytest.approx(1.0, rel=16 * EPS64)


def test_fairgrad_alpha_one_is_the_nash_weighting() -> None:
    params, x, y, group, masks, k = _batch(n_groups=3)
    gram = _gram(params, x, y, group, masks, k)
    nash, fair = NashMTL()(gram), FairGrad(1.0)(gram)
    assert nash.success and fair.success
    torch.testing.assert_close(fair.alpha, nash.alpha, rtol=1e3 * EPS64, atol=0)
    step = StepInputs(epoch=1, y=y, group=group, losses=torch.zeros(len(y), dtype=torch.float64), train_gram=gram)
    w_nash = TrainingGradientBargaining("nash_mtl", NashMTL()).sample_weights(step).weights
    w_fair = TrainingGradientBargaining("fairgrad", FairGrad(1.0)).sample_weights(step).weights
    torch.testing.assert_close(w_fair, w_nash, rtol=1e3 * EPS64, atol=0)
    assert not torch.allclose(FairGrad(3.0)(gram).alpha / FairGrad(3.0)(gram).alpha.sum(),
                              nash.alpha / nash.alpha.sum())


@pytest.mark.parametrize("alpha", [0.25, 0.5, 2.0, 5.0])
def test_fairgrad_meets_its_optimality_conditions(alpha: float) -> None:
    rng = np.random.default_rng(1)
    G = rng.normal(size=(5, 40)) + 0.8
    M = G @ G.T * 1e-3
    sol = solve_alpha_fair(M, alpha)
    assert sol.success
    assert np.max(np.abs(sol.weights ** (1.0 / alpha) * (M @ sol.weights) - 1.0)) <= 1e-8


def test_a_larger_alpha_favours_the_worst_off_cell() -> None:
    """alpha-fairness moves towards max-min: the smallest utility <d, g_c> grows with alpha (d normalised)."""
    rng = np.random.default_rng(2)
    G = rng.normal(size=(4, 30)) + np.array([[3.0], [0.5], [0.5], [0.5]])
    M = G @ G.T
    worst = []
    for alpha in (0.5, 1.0, 4.0):
        w = solve_alpha_fair(M, alpha).weights
        d = w @ G
        worst.append(float(np.min(G @ d) / np.linalg.norm(d)))
    assert worst[0] < worst[1] < worst[2]


def test_no_solution_when_zero_is_in_the_hull() -> None:
    g = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    gram = g @ g.T
    assert not NashMTL()(gram).success and not FairGrad(2.0)(gram).success
    with pytest.raises(ValueError, match="fairgrad_alpha"):
        FairGrad(0.0)


def test_standalone_keeps_its_last_weights_when_the_bargain_fails() -> None:
    params, x, y, group, masks, k = _batch()
    gram = _gram(params, x, y, group, masks, k)
    method = TrainingGradientBargaining("nash_mtl", NashMTL())
    losses = torch.zeros(len(y), dtype=torch.float64)
    first = method.sample_weights(StepInputs(epoch=1, y=y, group=group, losses=losses, train_gram=gram))
    conflict = torch.zeros(k, k, dtype=torch.float64)
    conflict[:2, :2] = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    conflict[2:, 2:] = torch.eye(2, dtype=torch.float64)
    second = method.sample_weights(StepInputs(epoch=1, y=y, group=group, losses=losses, train_gram=conflict))
    assert second.diagnostics["aggregator_failed"] == 1.0
    torch.testing.assert_close(second.weights, first.weights)
    fresh = TrainingGradientBargaining("nash_mtl", NashMTL()).sample_weights(
        StepInputs(epoch=1, y=y, group=group, losses=losses, train_gram=conflict))
    cells = batch_cells(y, group)
    torch.testing.assert_close(fresh.weights, cell_weights_to_samples(torch.ones(k, dtype=torch.float64), cells, k))


def test_a_hypergradient_weighting_is_refused_standalone() -> None:
    with pytest.raises(ValueError, match="training-gradient bargain"):
        TrainingGradientBargaining("x", NashBargaining())


def _train(method: str, backend: str = "factorised", epochs: int = 2):
    data = synthetic_split()
    va = data.val.to_torch()
    val = ValidationSet.build(va.X, va.y, va.group, data.n_groups)
    hp = HyperParams(lr=0.05, dropout=0.0, batch_size=16, epochs=epochs, bargain_epochs=1, val_per_cell=2,
                     hypergradient_backend=backend)
    proto = get_protocol("standard")
    return train(data, build_method(method, hp, proto, val), hp, proto, 0, progress=False)


@pytest.mark.parametrize("method", ["nash_mtl", "fairgrad", "nash_mtl_ltr"])
def test_fast_and_generic_steps_train_the_same(method: str) -> None:
    """Both model steps hand the same Gramian to the method (up to float32 rounding)."""
    fast, generic = _train(method), _train(method, "generic")
    for a, b in zip(fast.rows, generic.rows, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e3 * torch.finfo(torch.float32).eps)
        assert a["aggregator_failure_rate"] == b["aggregator_failure_rate"] == 0.0 or a["stage"] == 2.0


def test_two_stage_bargains_over_training_losses_in_stage_one_only() -> None:
    rows = _train("nash_mtl_ltr", epochs=2).rows
    assert rows[0]["stage"] == 1.0 and rows[0]["aggregator_failure_rate"] == 0.0
    assert rows[1]["stage"] == 2.0 and math.isnan(rows[1]["aggregator_failure_rate"])
    assert all(math.isfinite(r["alignment_rate"]) for r in rows)  # hypergradients every step: equal compute


def test_two_stage_weights_come_from_the_training_gramian() -> None:
    """Stage 1 of nash_mtl_ltr weighs the cells by Nash-MTL on the training Gramian, not on the hypergradients'."""
    from fairbench.method.meta import Hypergradients

    params, x, y, group, masks, k = _batch()
    gram = _gram(params, x, y, group, masks, k)
    data = synthetic_split()
    va = data.val.to_torch()
    val = ValidationSet.build(va.X, va.y, va.group, data.n_groups)
    method = build_method("nash_mtl_ltr", HP, get_protocol("standard"), val)
    assert method.needs_train_gram(1) and not method.needs_train_gram(2)
    G = torch.randn(k, len(y), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    step = StepInputs(epoch=1, y=y, group=group, losses=torch.zeros(len(y), dtype=torch.float64),
                      hyper=Hypergradients(G=G, cell_losses=torch.ones(k, dtype=torch.float64)), train_gram=gram)
    expected = cell_weights_to_samples(NashMTL()(gram).alpha, batch_cells(y, group), k)
    torch.testing.assert_close(method.sample_weights(step).weights, expected, rtol=0, atol=0)
