"""The weighting abstraction, the registry and the contract every registered weighting follows."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fairbench.method.aggregation as agg
from fairbench.method.aggregation import (
    AGGREGATORS,
    NAN_GRAMIAN_MESSAGE,
    MeanWeighting,
    Weighting,
    WeightingResult,
    aggregate,
    get_aggregator,
)
from tests.test_agg_families import SOLVABLE, random_permutation, solvable_correlated

NAMES = ["nbs", "mean", "mgda", "pcgrad", "cagrad", "imtl_g", "nash_mtl", "fairgrad"]


def test_registry_holds_every_method() -> None:
    assert sorted(AGGREGATORS) == sorted(NAMES)
    for name, cls in AGGREGATORS.items():
        assert issubclass(cls, Weighting) and cls.name == name
        assert get_aggregator(name).name == name


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown aggregator 'upgrad'") as err:
        get_aggregator("upgrad")
    for name in NAMES:
        assert name in str(err.value)


def test_options_reach_the_weighting() -> None:
    assert get_aggregator("cagrad", c=0.25).c == 0.25
    assert get_aggregator("nbs", max_iter=7).max_iter == 7
    with pytest.raises(TypeError):
        get_aggregator("mean", c=1.0)


def test_registry_is_importable_from_any_entry_point() -> None:
    """A baseline imported before the registry must not break the import cycle."""
    code = "import baselines.cagrad\nfrom fairbench.method.aggregation import AGGREGATORS\nprint(len(AGGREGATORS))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(len(NAMES))
    with pytest.raises(AttributeError):
        agg.not_a_name  # noqa: B018


def test_mean_weighting() -> None:
    result = MeanWeighting()(torch.eye(4) * 3.0)
    assert torch.equal(result.alpha, torch.full((4,), 0.25))
    assert result.success and result.iterations == 0


def test_aggregate_returns_alpha_times_g_in_gs_dtype() -> None:
    G = torch.from_numpy(solvable_correlated(0)).float()
    for name in NAMES:
        d, result = aggregate(G, get_aggregator(name), generator=torch.Generator().manual_seed(0))
        assert isinstance(result, WeightingResult)
        assert d.dtype == torch.float32 and d.shape == (G.shape[1],)
        torch.testing.assert_close(d, result.alpha.float() @ G)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_alpha_shape_and_dtype_follow_the_gramian(name: str, dtype: torch.dtype) -> None:
    G = torch.from_numpy(solvable_correlated(3)).to(dtype)
    result = get_aggregator(name)(G @ G.T)
    assert result.alpha.shape == (len(G),) and result.alpha.dtype == dtype
    assert result.success
    assert all(isinstance(v, float) for v in result.info.values())


@pytest.mark.parametrize("name", NAMES)
def test_nan_gramian_is_rejected(name: str) -> None:
    M = torch.eye(3, dtype=torch.float64)
    M[1, 2] = float("nan")
    with pytest.raises(ValueError, match=NAN_GRAMIAN_MESSAGE):
        get_aggregator(name)(M)
    with pytest.raises(ValueError, match="square"):
        get_aggregator(name)(torch.ones(2, 3))


@pytest.mark.parametrize("name", NAMES)
def test_single_cell(name: str) -> None:
    result = get_aggregator(name)(torch.tensor([[4.0]], dtype=torch.float64))
    assert result.success
    # NBS, Nash-MTL: alpha = 1 / ||g||; CAGrad: d = g0 + c ||g0|| g / ||g|| = (1 + c) g;
    # FairGrad (alpha 2): 4 w = w^(-1/2), w = 4^(-2/3).
    expected = {"nbs": 0.5, "nash_mtl": 0.5, "cagrad": 1.5, "fairgrad": 4.0 ** (-2.0 / 3.0)}.get(name, 1.0)
    assert result.alpha.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", ["nbs", "mean", "mgda", "cagrad", "imtl_g"])
@given(seed=st.integers(0, 2**31 - 1))
@settings(max_examples=25, deadline=None)
def test_deterministic_weightings_are_permutation_equivariant(name: str, seed: int) -> None:
    G = SOLVABLE["random" if seed % 2 else "correlated"](seed)
    M = torch.from_numpy(G @ G.T)
    perm = torch.from_numpy(random_permutation(len(G), seed))
    w = get_aggregator(name)
    alpha = w(M).alpha
    alpha_perm = w(M[perm][:, perm]).alpha
    torch.testing.assert_close(alpha_perm, alpha[perm], rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("name", ["mean", "mgda", "pcgrad", "cagrad", "imtl_g"])
def test_scale_invariant_weightings(name: str) -> None:
    """Every comparator's alpha is unchanged when all gradients are scaled (M -> s M)."""
    G = solvable_correlated(4)
    M = torch.from_numpy(G @ G.T)
    w = get_aggregator(name)
    for s in (1e-8, 1e6):
        torch.testing.assert_close(w(s * M).alpha, w(M).alpha, rtol=1e-8, atol=1e-12)


def test_weighting_result_is_frozen() -> None:
    result = WeightingResult(alpha=torch.ones(2), success=True)
    with pytest.raises(AttributeError):
        result.success = False  # type: ignore[misc]
    assert result.info == {} and result.iterations == 0
    assert np.all(result.alpha.numpy() == 1)
