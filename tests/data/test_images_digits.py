"""Coloured digits: the table, the split recipe (spurious colour in training, balanced validation
and test), the paper split, the prepared round trip, and the setting's registration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fairbench.data import load_split, prepare
from fairbench.data.errors import FrameError, PreparedDataError, SplitError
from fairbench.data.images import digits
from fairbench.data.images.table import read_image_table
from fairbench.data.prepared import prepared_paths
from fairbench.data.registry import get_setting, list_settings
from fairbench.data.hyperparams import reference_hyperparams


@pytest.fixture(scope="module")
def table() -> digits.ImageTable:
    return digits.coloured_table()


def test_every_image_in_both_colours(table: digits.ImageTable) -> None:
    images, numbers = digits.load_digit_images()
    assert table.pixels.shape == (2 * digits.N_IMAGES, 2, 8, 8) and table.input_shape == (2, 8, 8)
    for row in (0, 1, 2 * 700 + 1, 2 * 1796):
        i, colour = divmod(row, 2)
        assert table.image[row] == i and table.group[row] == colour
        assert np.array_equal(table.pixels[row, colour], images[i])
        assert not table.pixels[row, 1 - colour].any()
        assert table.y[row] == int(numbers[i] >= 5)
    assert np.bincount(table.y[::2]).tolist() == [901, 896]
    X = table.features(np.arange(len(table)))
    assert X.dtype == np.float32 and X.shape == (3594, 128) and X.min() == 0.0 and X.max() == 1.0


def test_the_source_arrays_are_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    import sklearn.datasets

    real = sklearn.datasets.load_digits

    def altered():  # type: ignore[no-untyped-def]
        bunch = real()
        bunch.images[0, 0, 0] += 1
        return bunch

    monkeypatch.setattr(sklearn.datasets, "load_digits", altered)
    with pytest.raises(FrameError, match="load_digits images have sha256 .* expected 8f26b2bd"):
        digits.load_digit_images()


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_split_recipe(table: digits.ImageTable, seed: int) -> None:
    s = digits.draw_split(table, seed)
    parts = {name: getattr(s, name) for name in ("train", "val", "test")}
    # validation and test are balanced over (colour, label): colour says nothing about the label there
    assert np.bincount(table.cell[s.val], minlength=4).tolist() == [digits.VAL_PER_CELL] * 4
    assert np.bincount(table.cell[s.test], minlength=4).tolist() == [digits.TEST_PER_CELL] * 4
    # no digit image appears twice, in one part or across parts; every image is used
    images = np.concatenate([table.image[rows] for rows in parts.values()])
    assert len(np.unique(images)) == len(images) == digits.N_IMAGES
    # in training the colour agrees with the label about 90 % of the time (binomial, n ~ 1,377)
    train_agrees = (table.group[s.train] == table.y[s.train]).mean()
    assert abs(train_agrees - digits.TRAIN_CORRELATION) < 0.03
    assert np.array_equal(s.train, np.sort(s.train))


@pytest.mark.parametrize("correlation", [0.0, 1.0])
def test_correlation_extremes(table: digits.ImageTable, correlation: float) -> None:
    s = digits.draw_split(table, 3, correlation=correlation)
    agrees = table.group[s.train] == table.y[s.train]
    assert agrees.all() if correlation == 1.0 else not agrees.any()


def test_splits_are_reproducible_and_differ_by_seed(table: digits.ImageTable) -> None:
    a, b, c = digits.draw_split(table, 5), digits.draw_split(table, 5), digits.draw_split(table, 6)
    assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("train", "val", "test"))
    assert not np.array_equal(a.test, c.test)


def test_test_rows_with_replacement_repeat_within_their_pool(table: digits.ImageTable) -> None:
    without = digits.draw_split(table, 2)
    within = digits.draw_split(table, 2, test_with_replacement=True)
    assert len(np.unique(within.test)) < len(within.test) == len(without.test)
    assert set(within.test) <= set(without.test) and np.array_equal(within.train, without.train)


def test_too_many_held_out_rows_is_a_split_error(table: digits.ImageTable) -> None:
    with pytest.raises(SplitError, match="label 0 has 901 images; val_per_cell=400"):
        digits.draw_split(table, 0, val_per_cell=400)


def test_registered_setting() -> None:
    assert "digits-colour" in list_settings()
    spec = get_setting("digits-colour")
    assert spec.group_names == ["red", "green"] and spec.n_features == 128 and spec.paper_split is None
    hp = reference_hyperparams("digits-colour")
    assert hp.model == "cnn" and hp.val_per_cell == digits.VAL_PER_CELL


def test_data_layer_splits(tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    assert prepare("digits-colour", out) == prepared_paths(out, "digits-colour")[0]
    manifest = json.loads(prepared_paths(out, "digits-colour")[1].read_text())
    assert manifest["input_shape"] == [2, 8, 8] and manifest["max_value"] == 16 and manifest["n_rows"] == 3594
    stored = read_image_table(out, "digits-colour")
    assert np.array_equal(stored.pixels, digits.coloured_table().pixels)

    paper = load_split("digits-colour", split="paper", prepared_dir=out)
    assert paper.split == "fixed-seed0" and paper.input_shape == (2, 8, 8) and paper.n_features == 128
    fixed = digits.draw_split(stored, digits.PAPER_SPLIT_SEED, test_with_replacement=True)
    assert np.array_equal(paper.test.index, fixed.test) and np.array_equal(paper.val.index, fixed.val)
    assert np.array_equal(paper.train.X, stored.features(fixed.train))  # no scaler: pixels / 16
    for scaler_fit in ("all", "train"):
        same = load_split("digits-colour", split="paper", scaler_fit=scaler_fit)
        assert np.array_equal(same.train.X, paper.train.X)

    seeded = load_split("digits-colour", split=3, test_with_replacement=False, val_per_cell=2, prepared_dir=out)
    assert seeded.split == "seed3-norepl" and len(seeded.val) == 8 and len(np.unique(seeded.test.index)) == 400
    with pytest.raises(ValueError, match="paper split is fixed"):
        load_split("digits-colour", split="paper", val_per_cell=2)
    with pytest.raises(ValueError, match="paper split is fixed"):
        load_split("digits-colour", split="paper", test_with_replacement=False)
    with pytest.raises(ValueError, match="split must be 'paper' or an integer seed"):
        load_split("digits-colour", split=-1)


def test_a_prepared_table_of_another_shape_is_refused(tmp_path: Path) -> None:
    prepare("digits-colour", tmp_path)
    manifest_path = prepared_paths(tmp_path, "digits-colour")[1]
    manifest = json.loads(manifest_path.read_text())
    manifest["input_shape"] = [1, 16, 8]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(PreparedDataError, match=r"input shape \(1, 16, 8\), the setting declares \(2, 8, 8\)"):
        load_split("digits-colour", prepared_dir=tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["erm", "nbs_ltr"])
def test_a_short_cnn_run(tmp_path: Path, method: str) -> None:
    from fairbench.runs.execute import RunSpec, execute

    spec = RunSpec.resolve("digits-colour", method, 0, "paper", {"epochs": 1})
    run = execute(spec, tmp_path / method, progress=False)
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete" and record["data"]["n_features"] == 128
    assert record["data"]["split"] == "fixed-seed0" and record["config"]["hparams"]["model"] == "cnn"


def test_the_default_grid_runs_the_paper_methods_on_the_digits() -> None:
    import yaml

    from fairbench.registry import PAPER_METHODS
    from fairbench.pipeline.config import check_config

    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "config.yaml").read_text())
    runs = {(job.protocol, job.method) for job in check_config(config)
            if job.experiment == "main" and job.setting == "digits-colour"}
    assert runs == {(protocol, method) for protocol in ("paper", "standard") for method in PAPER_METHODS}
