"""Models by name (fairbench/models): registry, shapes, errors, and a CNN trained with every paper method."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import synthetic_split

from fairbench.runs import execute as runs
from fairbench.cli import main
from fairbench.data import Part, SplitData
from fairbench.hparams import HyperParams
from fairbench.method.meta import ValidationSet
from fairbench.models import MODEL_NAMES, build_model
from fairbench.evaluation.protocols import get_protocol
from fairbench.registry import PAPER_METHODS, build_method
from fairbench.training.loop import train

#: torchvision's resnet18 (11,689,512 parameters) with a 2-way head instead of 1000-way.
RESNET18_PARAMETERS = 11_689_512 - (512 * 1000 + 1000) + (512 * 2 + 2)


def image_split(*, shape: tuple[int, int, int] = (3, 8, 8), n_train: int = 128, seed: int = 0) -> SplitData:
    """Tiny coloured-stripes images: the label is the stripes' direction (vertical / horizontal), the group
    the colour channel (red / green), correlated with the label in training only."""
    rng = np.random.default_rng(seed)
    c, h, w = shape

    def part(n: int, correlated: bool) -> Part:
        y = np.arange(n) % 2
        group = np.where(rng.random(n) < 0.85, y, 1 - y) if correlated else (np.arange(n) // 2) % 2
        images = 0.1 * rng.random((n, c, h, w))
        for i in range(n):
            phase = rng.integers(0, 2)
            if y[i] == 0:
                images[i, group[i], :, phase::2] += 1.0
            else:
                images[i, group[i], phase::2, :] += 1.0
        return Part(X=images.reshape(n, -1).astype(np.float32), y=y.astype(np.int64), group=group.astype(np.int64),
                    cell=(group * 2 + y).astype(np.int64), index=np.arange(n, dtype=np.int64))

    groups = ["red", "green"]
    return SplitData(setting="stripes", split="seed0", feature_names=[f"p{i}" for i in range(c * h * w)],
                     group_names=groups, cell_names=[f"{g}|y={y}" for g in groups for y in (0, 1)],
                     train=part(n_train, True), val=part(8, False), test=part(40, False), input_shape=shape)


def test_every_model_maps_rows_to_two_logits() -> None:
    x = torch.rand(5, 3 * 16 * 16)
    for name in MODEL_NAMES:
        model = build_model(name, x.shape[1], (3, 16, 16), dropout=0.1)
        assert model(x).shape == (5, 2), name


def test_resnet18_is_resnet18_sized() -> None:
    model = build_model("resnet18", 3 * 64 * 64, (3, 64, 64))
    assert sum(p.numel() for p in model.parameters()) == RESNET18_PARAMETERS
    assert not list(model.buffers())  # GroupNorm: no running statistics for the look-ahead to disturb


def test_model_errors_are_one_line_and_name_the_fix() -> None:
    with pytest.raises(ValueError, match="unknown model 'vgg'; valid models: mlp, cnn, resnet18"):
        build_model("vgg", 10)
    with pytest.raises(ValueError, match="model 'cnn' needs image input.*use --model mlp"):
        build_model("cnn", 192)
    with pytest.raises(ValueError, match=r"input_shape \(3, 8, 8\) does not match the 100 features"):
        build_model("resnet18", 100, (3, 8, 8))
    base = HyperParams(lr=0.1, dropout=0.0, batch_size=8, epochs=1, bargain_epochs=0, val_per_cell=1)
    with pytest.raises(ValueError, match="model must be one of"):
        base.override(model="vgg")
    with pytest.raises(ValueError, match="hypergradient_backend 'autograd' exists for the MLP only"):
        base.override(model="cnn", hypergradient_backend="autograd")
    assert base.model == "mlp" and base.override(model="cnn").model == "cnn"


def _hp(**changes) -> HyperParams:
    base = HyperParams(lr=0.01, dropout=0.1, batch_size=32, epochs=12, bargain_epochs=3, val_per_cell=2, model="cnn")
    return base.override(**changes)


@pytest.mark.parametrize("method", PAPER_METHODS)
def test_cnn_trains_with_every_paper_method(method: str) -> None:
    data, protocol, hp = image_split(), get_protocol("standard"), _hp()
    va = data.val.to_torch()
    built = build_method(method, hp, protocol, ValidationSet.build(va.X, va.y, va.group, data.n_groups))
    rows = pd.DataFrame(train(data, built, hp, protocol, 0, progress=False).rows)
    assert len(rows) == hp.epochs and np.isfinite(rows["train_loss"]).all()
    assert rows["train_loss"].iloc[-2:].mean() < 0.92 * rows["train_loss"].iloc[:2].mean(), rows["train_loss"].tolist()
    if method != "erm" and method != "dro":
        assert rows["alignment_rate"].notna().all()


def test_resnet_takes_a_meta_step() -> None:
    from fairbench.training.generic_step import GenericStep

    data, protocol = image_split(shape=(3, 8, 8), n_train=8), get_protocol("standard")
    hp = _hp(model="resnet18", batch_size=4)
    tr, va = data.train.to_torch(), data.val.to_torch()
    val = ValidationSet.build(va.X, va.y, va.group, data.n_groups)
    trainer = GenericStep(build_method("nbs_ltr", hp, protocol, val), hp, val,
                             build_model("resnet18", data.n_features, data.input_shape, dropout=0.1),
                             dropout_generator=torch.Generator().manual_seed(0))
    before = [p.clone() for p in trainer.params]
    record = trainer.step(tr.X[:4], tr.y[:4], tr.group[:4], epoch=1)
    assert np.isfinite(record.loss) and record.diagnostics["stage"] == 1.0
    assert all(not torch.equal(a, b) for a, b in zip(before, trainer.params))


def test_cli_trains_a_cnn_and_records_model_and_device(tmp_path, monkeypatch) -> None:
    data = image_split()
    monkeypatch.setattr(runs, "load_run_data", lambda spec, prepared_dir=None: data)
    monkeypatch.setattr(runs, "reference_hyperparams", lambda setting: _hp(model="mlp", epochs=2))
    assert main(["train", "--setting", "titanic-sex", "--method", "ltr", "--protocol", "standard", "--out",
                 str(tmp_path / "r"), "--model", "cnn", "--device", "auto", "--no-progress"]) == 0
    record = json.loads((tmp_path / "r" / "run.json").read_text())
    assert record["config"]["hparams"]["model"] == "cnn"
    n_parameters = sum(p.numel() for p in build_model("cnn", 192, (3, 8, 8)).parameters())
    assert record["model"] == {"name": "cnn", "step": "generic", "n_parameters": n_parameters, "input_shape": [3, 8, 8]}
    assert record["device"]["used"] == ("cuda:0" if torch.cuda.is_available() else "cpu")
    assert len(pd.read_csv(tmp_path / "r" / "metrics.csv")) == 2


def test_mlp_run_records_the_fast_step(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(runs, "load_run_data", lambda spec, prepared_dir=None: synthetic_split())
    monkeypatch.setattr(runs, "reference_hyperparams", lambda setting: _hp(model="mlp", epochs=1, batch_size=16))
    assert main(["train", "--setting", "titanic-sex", "--method", "erm", "--protocol", "standard", "--out",
                 str(tmp_path / "r"), "--no-progress"]) == 0
    record = json.loads((tmp_path / "r" / "run.json").read_text())
    assert record["model"]["name"] == "mlp" and record["model"]["step"] == "fast"
    assert record["device"] == {"used": "cpu"}


def test_image_model_on_flat_data_fails_before_training(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(runs, "load_run_data", lambda spec, prepared_dir=None: synthetic_split())
    monkeypatch.setattr(runs, "train", lambda *a, **k: pytest.fail("training started"))
    assert main(["train", "--setting", "titanic-sex", "--method", "erm", "--out", str(tmp_path / "r"),
                 "--model", "resnet18", "--no-progress"]) == 2
    assert "model 'resnet18' needs image input" in capsys.readouterr().err


def test_readme_add_a_model_example_trains(tmp_path, monkeypatch) -> None:
    """The README's example model, registered by name, trains with a meta method."""
    import re
    import sys
    from pathlib import Path

    import fairbench.hparams
    from fairbench import models

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### Add a model", 1)[1].split("\n### ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "readme_linear.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(models.MODELS, "linear", "readme_linear:Linear")
    monkeypatch.setattr(fairbench.hparams, "MODEL_NAMES", (*models.MODEL_NAMES, "linear"))
    assert '"linear": "fairbench.models.linear:Linear"' in section
    data, protocol = synthetic_split(), get_protocol("standard")
    hp = _hp(model="linear", lr=0.05, epochs=5, batch_size=16, bargain_epochs=2, dropout=0.0)
    va = data.val.to_torch()
    built = build_method("nbs_ltr", hp, protocol, ValidationSet.build(va.X, va.y, va.group, data.n_groups))
    rows = pd.DataFrame(train(data, built, hp, protocol, 0, progress=False).rows)
    assert np.isfinite(rows["train_loss"]).all() and rows["auc"].iloc[-1] > 0.7  # 0.5 = chance
    sys.modules.pop("readme_linear", None)
