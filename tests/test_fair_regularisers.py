"""The in-processing fairness baselines: gap regularisers (DiffDP, DiffEopp, DiffEodd), adversarial
debiasing, and the rule that picks a point of their lambda sweep."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from baselines.adversarial import AdversarialDebiasing
from baselines.diffdp import DiffDP
from fairbench.evaluation.protocols import get_protocol
from fairbench.hparams import HyperParams
from fairbench.method.base import StepInputs, TrainingData
from fairbench.method.gap_penalty import score_gap
from fairbench.method.meta import ValidationSet
from fairbench.method.sweep import choose_sweep_point
from fairbench.registry import build_method
from fairbench.training.loop import train
from tests.helpers import synthetic_split

HP = HyperParams(lr=0.05, dropout=0.2, batch_size=16, epochs=2, bargain_epochs=1, val_per_cell=2)
REGULARISERS = ("diffdp", "diffeopp", "diffeodd", "adv_debias")
TIMING = {"epoch_seconds"}


def _rows(method: str, hp: HyperParams) -> list[dict[str, float]]:
    data = synthetic_split()
    va = data.val.to_torch()
    val = ValidationSet.build(va.X, va.y, va.group, data.n_groups)
    proto = get_protocol("standard")
    trace = train(data, build_method(method, hp, proto, val), hp, proto, 0, progress=False)
    return [{k: ("nan" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()
             if k not in TIMING} for row in trace.rows]


@pytest.mark.parametrize("backend", ["factorised", "generic"])
@pytest.mark.parametrize("method", REGULARISERS)
def test_lambda_zero_is_erm_bitwise(method: str, backend: str) -> None:
    hp = dataclasses.replace(HP, fair_lambda=0.0, hypergradient_backend=backend)
    assert _rows(method, hp) == _rows("erm", hp)


@pytest.mark.parametrize("method", REGULARISERS)
def test_a_positive_lambda_changes_training(method: str) -> None:
    hp = dataclasses.replace(HP, fair_lambda=5.0)
    assert _rows(method, hp) != _rows("erm", hp)


def test_two_group_gap_is_the_difference_of_group_means() -> None:
    score = torch.tensor([0.1, 0.4, 0.9, 0.6, 0.3], dtype=torch.float64)
    group = torch.tensor([0, 0, 1, 1, 1])
    expected = abs(0.25 - 0.6)
    assert float(score_gap(score, group)) == pytest.approx(expected, rel=8 * torch.finfo(torch.float64).eps)
    assert float(score_gap(score, group, group == 1)) == 0.0  # one group: no gap
    assert float(score_gap(score, group, torch.zeros(5, dtype=torch.bool))) == 0.0


def test_the_penalty_descends_the_gap() -> None:
    """The penalty's gradient step narrows the demographic-parity gap."""
    logits = torch.tensor([[0.0, 2.0], [0.0, 1.0], [0.0, -1.0], [0.0, -2.0]], dtype=torch.float64,
                          requires_grad=True)
    group = torch.tensor([0, 0, 1, 1])
    step = StepInputs(epoch=1, y=torch.tensor([1, 0, 1, 0]), group=group, losses=torch.zeros(4))
    method = DiffDP(1.0)
    penalty = method.logit_penalty(logits, step)
    (grad,) = torch.autograd.grad(penalty, logits)
    gap_before = float(score_gap(torch.softmax(logits.detach(), 1)[:, 1], group))
    gap_after = float(score_gap(torch.softmax(logits.detach() - 0.1 * grad, 1)[:, 1], group))
    assert gap_after < gap_before


def test_negative_lambda_is_refused() -> None:
    with pytest.raises(ValueError, match="fair_lambda must be >= 0"):
        dataclasses.replace(HP, fair_lambda=-1.0)
    with pytest.raises(ValueError, match="set fair_lambda"):
        DiffDP(float("nan"))


def test_the_adversary_gradient_reaches_the_encoder_reversed() -> None:
    """d penalty / d theta = -sqrt(B) lambda d L_adv / d theta, with L_adv at the adversary's pre-step weights."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 3, generator=gen, dtype=torch.float64)
    group = torch.tensor([0, 1] * 4)
    theta = torch.randn(3, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    method = AdversarialDebiasing(lam=0.7, lr=0.1)
    method.prepare(TrainingData(y=torch.zeros(8, dtype=torch.long), group=group, n_groups=2, seed=3))
    assert method.adversary is not None
    before = {k: v.detach().clone() for k, v in method.adversary.named_parameters()}
    step = StepInputs(epoch=1, y=torch.zeros(8, dtype=torch.long), group=group, losses=torch.zeros(8))
    (reversed_grad,) = torch.autograd.grad(method.logit_penalty(x @ theta, step), theta)
    plain = math.sqrt(8) * 0.7 * method.adversary_loss(x @ theta, group, before, reverse=False)
    (plain_grad,) = torch.autograd.grad(plain, theta)
    assert torch.count_nonzero(plain_grad) > 0
    torch.testing.assert_close(reversed_grad, -plain_grad, rtol=0, atol=0)
    after = dict(method.adversary.named_parameters())
    assert any(not torch.equal(before[k], after[k]) for k in before)  # the adversary took its own step


def test_the_adversary_learns_to_predict_the_group() -> None:
    """Its own optimiser lowers its loss on margins that reveal the group."""
    group = torch.tensor([0, 1] * 32)
    logits = torch.stack([torch.zeros(64), 2.0 * group.double() - 1.0], dim=1)
    method = AdversarialDebiasing(lam=1.0, lr=0.05)
    method.prepare(TrainingData(y=torch.zeros(64, dtype=torch.long), group=group, n_groups=2, seed=0))
    step = StepInputs(epoch=1, y=torch.zeros(64, dtype=torch.long), group=group, losses=torch.zeros(64))
    first = float(method.adversary_loss(logits, group, reverse=False))
    for _ in range(100):
        method.logit_penalty(logits, step)
    assert float(method.adversary_loss(logits, group, reverse=False)) < 0.5 * first


def test_sweep_rule_picks_the_best_validation_worst_group_auc() -> None:
    assert choose_sweep_point({0.1: [0.70, 0.72], 1.0: [0.75, 0.74], 10.0: [0.5, 0.5]}) == 1.0
    assert choose_sweep_point({3.0: [0.7], 0.3: [0.7]}) == 0.3  # ties: the smaller lambda
    assert choose_sweep_point({0.1: [0.6, 0.6], 10.0: [0.5, 0.5]}) == 0.1  # a degenerate model never wins


@pytest.mark.parametrize(("sweep", "message"), [
    ({}, "sweep is empty"), ({1.0: []}, "has no runs"), ({-1.0: [0.5]}, "finite number >= 0"),
    ({1.0: [float("nan")]}, "outside \\[0, 1\\]"),
])
def test_sweep_rule_refuses_bad_input(sweep, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        choose_sweep_point(sweep)
