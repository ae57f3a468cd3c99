"""The Pareto-improvement diagnostic's tolerance (fairbench/training/step.py, docs/method.md "Diagnostics")."""

from __future__ import annotations

import pytest
import torch

from fairbench.training.step import PARETO_ULPS, pareto_improved, pareto_tolerance


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_rise_counts_only_beyond_the_stated_number_of_epsilons(dtype: torch.dtype) -> None:
    before = torch.tensor([0.5, 2.0, 7.25, 1e-3], dtype=dtype)
    eps = torch.finfo(dtype).eps
    step = torch.zeros_like(before)
    step[1] = 1.0  # only the second cell moves
    within = before + step * (PARETO_ULPS // 2) * eps * before  # a near-tie: half the tolerance
    beyond = before + step * (2 * PARETO_ULPS) * eps * before  # twice the tolerance
    assert pareto_improved(before, within) == 1.0
    assert pareto_improved(before, beyond) == 0.0
    assert pareto_improved(before, before * 0.9) == 1.0


def test_the_tolerance_follows_the_float_type() -> None:
    before = torch.tensor([3.0])
    assert float(pareto_tolerance(before)) == pytest.approx(3.0 * PARETO_ULPS * torch.finfo(torch.float32).eps)
    assert float(pareto_tolerance(before.double())) == pytest.approx(3.0 * PARETO_ULPS * torch.finfo(torch.float64).eps)
    # a float32 near-tie that is a rise in float64 terms
    rise = torch.tensor([3.0 * (1 + 4 * torch.finfo(torch.float32).eps)], dtype=torch.float64)
    assert pareto_improved(before, rise.float()) == 1.0 and pareto_improved(before.double(), rise) == 0.0
