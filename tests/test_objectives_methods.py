"""Objectives, non-meta baselines, the two-stage schedule and the method registry."""

from __future__ import annotations

import math

import pytest
import torch

from baselines.dro import DRO
from baselines.erm import ERM
from baselines.forml import FORML
from baselines.group_dro import GroupDRO
from baselines.ltr import LearningToReweight
from baselines.meta_gdro import MetaGroupDRO
from baselines.reweighing import Reweighing
from fairbench.method.aggregation import get_aggregator
from fairbench.data.hyperparams import reference_hyperparams
from fairbench.method.meta import Hypergradients, ValidationSet, clip_and_normalise
from fairbench.method.base import StepInputs, TrainingData
from fairbench.method.objectives import group_coefficients
from fairbench.evaluation.protocols import get_protocol
from fairbench.registry import PAPER_METHODS, available_methods, build_method
from fairbench.method.two_stage import MetaReweighting


def _val(n_groups: int, sizes: list[int]) -> ValidationSet:
    cells = torch.cat([torch.full((n,), c) for c, n in enumerate(sizes)])
    return ValidationSet.build(torch.zeros(len(cells), 3), cells % 2, cells // 2, n_groups)


def _objective_value(name: str, cell_losses: torch.Tensor, val: ValidationSet) -> torch.Tensor:
    group_losses = group_coefficients(val).to(cell_losses.dtype) @ cell_losses
    if name == "ltr":
        return (val.cell_sizes.to(cell_losses.dtype) * cell_losses).sum() / val.cell_sizes.sum()
    if name == "forml":
        return group_losses.max() - group_losses.min()
    return group_losses.max()


@pytest.mark.parametrize("objective", [LearningToReweight(), FORML(), MetaGroupDRO()], ids=lambda o: o.name)
@pytest.mark.parametrize("seed", range(5))
def test_cell_coefficients_are_the_objective_gradient(objective, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    val = _val(3, [1, 2, 3, 1, 2, 4])
    losses = torch.rand(6, generator=g, dtype=torch.float64).requires_grad_(True)
    (grad,) = torch.autograd.grad(_objective_value(objective.name, losses, val), losses)
    torch.testing.assert_close(objective.cell_coefficients(losses.detach(), val).double(), grad)
    G = torch.randn(6, 11, generator=g, dtype=torch.float64)
    torch.testing.assert_close(objective.direction(G, losses.detach(), val), grad @ G)


def test_group_coefficients_average_cells_by_size() -> None:
    C = group_coefficients(_val(2, [1, 3, 2, 2]))
    torch.testing.assert_close(C, torch.tensor([[0.25, 0.75, 0, 0], [0, 0, 0.5, 0.5]]))


def _step(losses: torch.Tensor, group: torch.Tensor | None = None, y: torch.Tensor | None = None) -> StepInputs:
    n = losses.shape[0]
    return StepInputs(epoch=1, y=y if y is not None else torch.zeros(n, dtype=torch.long),
                      group=group if group is not None else torch.zeros(n, dtype=torch.long), losses=losses)


def test_erm_weights_are_l2_normalised_uniform() -> None:
    w = ERM().sample_weights(_step(torch.rand(16))).weights
    torch.testing.assert_close(w, torch.full((16,), 0.25))


def test_dro_puts_unit_weight_on_the_top_40_percent() -> None:
    losses = torch.arange(10, dtype=torch.float32).flip(0)
    w = DRO(0.4).sample_weights(_step(losses)).weights
    assert w.tolist() == [1.0] * 4 + [0.0] * 6


def test_reweighing_makes_group_and_label_independent() -> None:
    g = torch.Generator().manual_seed(0)
    group = torch.randint(0, 3, (600,), generator=g)
    y = (torch.rand(600, generator=g) < 0.2 + 0.25 * group).long()
    method = Reweighing()
    method.prepare(TrainingData(y=y, group=group, n_groups=3))
    w = method.sample_weights(_step(torch.ones(600), group, y)).weights.double() * math.sqrt(600)
    joint = torch.zeros(3, 2, dtype=torch.float64).index_put_((group, y), w, accumulate=True) / 600
    torch.testing.assert_close(joint, joint.sum(1, keepdim=True) * joint.sum(0, keepdim=True))


def test_group_dro_shifts_weight_to_the_worse_group() -> None:
    method = GroupDRO(step_size=0.5)
    method.prepare(TrainingData(y=torch.zeros(4, dtype=torch.long), group=torch.tensor([0, 0, 1, 1]), n_groups=2))
    group = torch.tensor([0, 0, 1, 1])
    for _ in range(5):
        out = method.sample_weights(_step(torch.tensor([0.1, 0.1, 2.0, 2.0]), group))
    assert method.q is not None and float(method.q[1]) > 0.7
    assert float(out.weights[2]) > float(out.weights[0])
    # a group absent from the batch keeps its probability
    q_before = method.q.clone()
    method.sample_weights(_step(torch.tensor([1.0, 1.0]), torch.tensor([0, 0])))
    assert float(method.q[1]) < float(q_before[1])


def _meta_step(G: torch.Tensor, epoch: int, cell_losses: torch.Tensor | None = None) -> StepInputs:
    K, B = G.shape
    losses = cell_losses if cell_losses is not None else torch.linspace(1.0, 2.0, K, dtype=G.dtype)
    return StepInputs(epoch=epoch, y=torch.zeros(B, dtype=torch.long), group=torch.zeros(B, dtype=torch.long),
                      losses=torch.ones(B), hyper=Hypergradients(G=G, cell_losses=losses))


def test_two_stage_bargains_then_follows_the_objective() -> None:
    g = torch.Generator().manual_seed(1)
    G = torch.randn(4, 30, generator=g, dtype=torch.float64) + 0.5
    val = _val(2, [1, 1, 1, 1])
    method = MetaReweighting("nbs_forml", FORML(), val, aggregator=get_aggregator("nbs"), stage1_epochs=2)
    first = method.sample_weights(_meta_step(G, epoch=1))
    assert first.diagnostics["stage"] == 1.0 and first.diagnostics["aligned"] == 1.0
    assert first.diagnostics["nbs_solvable"] == 1.0 and first.diagnostics["aggregator_failed"] == 0.0
    alpha = get_aggregator("nbs")(G @ G.T).alpha
    torch.testing.assert_close(first.weights, clip_and_normalise(alpha @ G))
    later = method.sample_weights(_meta_step(G, epoch=3))
    assert later.diagnostics["stage"] == 2.0
    expected = clip_and_normalise(FORML().direction(G, torch.linspace(1.0, 2.0, 4, dtype=G.dtype), val))
    torch.testing.assert_close(later.weights, expected)


def _conflicting_G() -> torch.Tensor:
    g = torch.Generator().manual_seed(2)
    g1, g2, g4 = torch.randn(3, 20, generator=g, dtype=torch.float64)
    return torch.stack([g1, g2, -(g1 + g2), g4])  # 0 is in the convex hull: no bargaining solution


def test_failed_bargaining_falls_back_to_the_objective() -> None:
    val = _val(2, [1, 1, 1, 1])
    method = MetaReweighting("nbs_forml", FORML(), val, aggregator=get_aggregator("nbs"), stage1_epochs=5)
    out = method.sample_weights(_meta_step(_conflicting_G(), epoch=1))
    assert out.diagnostics["aggregator_failed"] == 1.0 and out.diagnostics["nbs_solvable"] == 0.0
    losses = torch.linspace(1.0, 2.0, 4, dtype=torch.float64)
    torch.testing.assert_close(out.weights, clip_and_normalise(FORML().direction(_conflicting_G(), losses, val)))


def test_paper_nbs_ltr_reuses_previous_weights_on_failure() -> None:
    val = _val(2, [1, 1, 1, 1])
    method = MetaReweighting("nbs_ltr", LearningToReweight(), val, aggregator=get_aggregator("nbs"),
                             stage1_epochs=5, fallback="previous_weights")
    good = torch.randn(4, 20, generator=torch.Generator().manual_seed(3), dtype=torch.float64) + 1.0
    first = method.sample_weights(_meta_step(good, epoch=1)).weights
    second = method.sample_weights(_meta_step(_conflicting_G(), epoch=1)).weights
    assert torch.equal(first, second)


def test_one_stage_methods_probe_solvability() -> None:
    val = _val(2, [1, 1, 1, 1])
    method = MetaReweighting("ltr", LearningToReweight(), val, solvability_probe=get_aggregator("nbs"))
    out = method.sample_weights(_meta_step(_conflicting_G(), epoch=1))
    assert out.diagnostics["stage"] == 2.0 and out.diagnostics["nbs_solvable"] == 0.0
    assert "aggregator_failed" not in out.diagnostics


def test_registry_lists_and_builds_every_method() -> None:
    names = available_methods()
    assert set(PAPER_METHODS) <= set(names)
    for expected in ("mgda_ltr", "pcgrad_forml", "cagrad_meta_gdro", "imtl_g_ltr", "group_dro", "reweighing"):
        assert expected in names
    hp = reference_hyperparams("titanic-sex")
    val = _val(2, [1, 1, 1, 1])
    for name in names:
        method = build_method(name, hp, get_protocol("paper"), val)
        assert method.name == name
    paper = build_method("nbs_ltr", hp, get_protocol("paper"), val)
    standard = build_method("nbs_ltr", hp, get_protocol("standard"), val)
    assert paper.fallback == "previous_weights" and standard.fallback == "objective"
    assert paper.stage1_epochs == hp.bargain_epochs - 1 and standard.stage1_epochs == hp.bargain_epochs


def test_unknown_method_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown method 'nbs_erm'; valid methods: erm, dro"):
        build_method("nbs_erm", reference_hyperparams("titanic-sex"), get_protocol("paper"), _val(2, [1, 1, 1, 1]))


def test_a_new_objective_is_one_class_and_one_registry_entry(monkeypatch) -> None:
    """The README's "Add a method" example, verbatim in spirit."""
    from fairbench import registry
    from fairbench.method.objectives import Objective

    class WorstCell(Objective):
        name = "worst_cell"

        def cell_coefficients(self, cell_losses, val):
            w = cell_losses.new_zeros(cell_losses.shape)
            w[int(cell_losses.argmax())] = 1.0
            return w

    monkeypatch.setitem(registry.OBJECTIVES, "worst_cell", WorstCell)
    assert {"worst_cell", "nbs_worst_cell", "mgda_worst_cell"} <= set(available_methods())
    method = build_method("nbs_worst_cell", reference_hyperparams("titanic-sex"), get_protocol("standard"),
                          _val(2, [1, 1, 1, 1]))
    G = torch.randn(4, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = method.sample_weights(_meta_step(G, epoch=100, cell_losses=torch.tensor([0.1, 0.9, 0.3, 0.2])))
    torch.testing.assert_close(out.weights, clip_and_normalise(G[1]))
