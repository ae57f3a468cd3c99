"""--device cpu|cuda|auto: resolution, the one-line error without a GPU, the workflow key, and (where a
GPU exists, marker ``cuda``) the same small runs on CPU and CUDA compared within a stated tolerance."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from helpers import synthetic_split
from test_models import image_split

from fairbench.runs import execute as runs
from fairbench.cli import main
from fairbench.training.device import resolve_device
from fairbench.hparams import HyperParams
from fairbench.method.meta import ValidationSet
from fairbench.evaluation.protocols import get_protocol
from fairbench.registry import build_method
from fairbench.training.loop import train
from fairbench.pipeline.config import ConfigError, check_config

ROOT = Path(__file__).resolve().parents[1]
#: CPU vs CUDA, same run without dropout and with one batch per epoch (so neither device's random
#: streams matter): every per-epoch number within this absolute and relative tolerance (float32
#: kernels sum in different orders; TF32 is off, fairbench/training/device.py).
CPU_CUDA_ATOL, CPU_CUDA_RTOL = 1e-4, 1e-3
#: Yes/no batch tests (alignment, NBS solvable, Pareto improvement, ...) may flip on a near-tie: per
#: column, at most one of the run's eight batches (one batch per epoch) may differ.
MAX_FLIPS = 1


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_device_names_resolve(no_gpu) -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device 'tpu'; use one of cpu, cuda, auto"):
        resolve_device("tpu")


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_without_a_gpu_is_a_one_line_error(no_gpu, name: str) -> None:
    with pytest.raises(ValueError, match=f"device '{name}' requested but no CUDA GPU is available.*--device cpu"):
        resolve_device(name)


def test_cuda_index_beyond_the_gpus_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match="only 1 CUDA device"):
        resolve_device("cuda:3")


def test_cli_device_cuda_without_gpu_exits_2_before_any_work(no_gpu, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(runs, "load_run_data", lambda *a, **k: pytest.fail("data loaded"))
    code = main(["train", "--setting", "titanic-sex", "--method", "erm", "--out", str(tmp_path / "r"),
                 "--device", "cuda"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("fairbench train: error: device 'cuda' requested but no CUDA GPU is available")
    assert not (tmp_path / "r").exists()


def test_workflow_device_key_is_checked() -> None:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    assert config["device"] == "cpu"
    for value in ("cuda", "auto"):
        check_config({**copy.deepcopy(config), "device": value})
    with pytest.raises(ConfigError, match="config key 'device'"):
        check_config({**copy.deepcopy(config), "device": "gpu"})
    assert "--device {params.device}" in (ROOT / "workflow" / "rules" / "train.smk").read_text()


def _rows(data, hp: HyperParams, device: str, method: str = "nbs_ltr") -> pd.DataFrame:
    protocol = get_protocol("standard")
    va = data.val.to_torch()
    built = build_method(method, hp, protocol, ValidationSet.build(va.X, va.y, va.group, data.n_groups))
    return pd.DataFrame(train(data, built, hp, protocol, 0, progress=False, device=device).rows)


def _cases():
    flat = synthetic_split(n_train=96)
    hp = HyperParams(lr=0.05, dropout=0.0, batch_size=96, epochs=8, bargain_epochs=4, val_per_cell=2)
    images = image_split(n_train=64)
    return {"mlp-fast": (flat, hp), "mlp-generic": (flat, hp.override(hypergradient_backend="generic")),
            "cnn": (images, hp.override(model="cnn", lr=0.01, batch_size=64))}


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("case", ["mlp-fast", "mlp-generic", "cnn"])
@pytest.mark.parametrize("method", ["erm", "ltr", "nbs_ltr"])
def test_cuda_trains_and_agrees_with_the_cpu(case: str, method: str) -> None:
    data, hp = _cases()[case]
    cpu, cuda = _rows(data, hp, "cpu", method), _rows(data, hp, "cuda", method)
    rates = [c for c in cpu.columns if c.endswith(("_rate", "failures"))]
    columns = [c for c in cpu.columns if c != "epoch_seconds" and c not in rates]
    np.testing.assert_allclose(cuda[columns].to_numpy(float), cpu[columns].to_numpy(float),
                               atol=CPU_CUDA_ATOL, rtol=CPU_CUDA_RTOL, equal_nan=True)
    flips = (cuda[rates].fillna(-1) - cpu[rates].fillna(-1)).abs().sum()
    assert (flips <= MAX_FLIPS).all(), flips[flips > MAX_FLIPS]
    assert cuda["train_loss"].iloc[-1] < cuda["train_loss"].iloc[0]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("case", ["mlp-fast", "cnn"])
def test_cuda_runs_with_dropout_repeat_exactly(case: str) -> None:
    data, hp = _cases()[case]
    hp = hp.override(dropout=0.2, batch_size=16)
    first, second = _rows(data, hp, "cuda"), _rows(data, hp, "cuda")
    pd.testing.assert_frame_equal(first.drop(columns="epoch_seconds"), second.drop(columns="epoch_seconds"),
                                  check_exact=True)


def test_bench_device_times_the_fast_and_generic_steps(monkeypatch, capsys) -> None:
    from fairbench.perf import bench_device

    monkeypatch.setattr(bench_device, "load_run_data", lambda spec, prepared_dir=None: synthetic_split(n_train=64))
    rows = bench_device.step_times("titanic-sex", [torch.device("cpu")], prepared_dir=None, model=None,
                                   repeats=2, warmup=1)
    assert [(r["path"], r["step"]) for r in rows] == [(p, s) for p in ("fast", "generic") for s in bench_device.STEPS]
    assert all(r["cpu"] > 0 for r in rows)
    assert "generic  nbs_ltr" in bench_device.report(rows, [torch.device("cpu")])
    monkeypatch.setattr(bench_device, "load_run_data", lambda spec, prepared_dir=None: image_split(n_train=64))
    rows = bench_device.step_times("titanic-sex", [torch.device("cpu")], prepared_dir=None, model="cnn",
                                   repeats=1, warmup=0)
    assert {(r["model"], r["path"]) for r in rows} == {("cnn", "generic")}


def test_bench_device_cuda_without_gpu_exits_2(no_gpu, capsys) -> None:
    assert main(["bench", "--device", "cuda"]) == 2
    assert "no CUDA GPU is available" in capsys.readouterr().err


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("method", ["erm", "ltr", "nbs_ltr"])
def test_cuda_trains_resnet18_and_repeats_exactly(method: str) -> None:
    """ResNet-18 on tiny images (one batch per epoch; its early epochs jump, so only the first and last
    epoch are compared, and two CUDA runs must agree to the bit)."""
    hp = HyperParams(lr=2e-4, dropout=0.1, batch_size=32, epochs=5, bargain_epochs=2, val_per_cell=2,
                     model="resnet18")
    data = image_split(n_train=32)
    first, second = _rows(data, hp, "cuda", method), _rows(data, hp, "cuda", method)
    assert np.isfinite(first["train_loss"]).all() and first["train_loss"].iloc[-1] < first["train_loss"].iloc[0]
    pd.testing.assert_frame_equal(first.drop(columns="epoch_seconds"), second.drop(columns="epoch_seconds"),
                                  check_exact=True)


def test_bench_adds_the_device_table_where_a_gpu_exists(monkeypatch, capsys) -> None:
    from fairbench.perf import bench, bench_device
    from fairbench.training import device

    asked: list[str] = []
    monkeypatch.setattr(bench, "bench_setting", lambda s, **k: [("n_cells", 4.0)])
    monkeypatch.setattr(bench, "report", lambda results: "usual table")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(device, "resolve_device", lambda name: asked.append(name) or torch.device("cpu"))
    monkeypatch.setattr(bench_device, "step_times", lambda s, devices, **k: [])
    assert main(["bench", "--settings", "adult-sex", "--cells", ""]) == 0  # no K-scaling table
    assert asked == ["cuda"] and capsys.readouterr().out.startswith("usual table\n\nsetting")
