"""CelebA loader on a tiny CelebA-format folder generated in a temporary directory: official file
formats, MD5 pins, preprocessing, prepared round trip, balanced splits, and a short ResNet-18 run."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fairbench.data import load_split, prepare
from fairbench.data.errors import ChecksumError, DataUnavailableError, FrameError, PreparedDataError
from fairbench.data.images import celeba
from fairbench.data.images.celeba import CelebAFiles, CelebASetting
from fairbench.data.images.table import read_image_table
from fairbench.data.prepared import prepared_paths
from fairbench.data.registry import get_setting, list_settings
from fairbench.data.hyperparams import reference_hyperparams

ATTRIBUTES = [
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open",
    "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
]  # fmt: skip
COUNTS = (3, 10, 3)  # images per (Male, Smiling) cell in the official train, validation, test partitions
PER_CELL = COUNTS[2]
N = 4 * sum(COUNTS)
PARTITION = np.repeat([0, 1, 2], [4 * c for c in COUNTS])
WIDTH, HEIGHT = 18, 24  # portrait like the aligned 178 x 218 images; the centre crop drops 3 rows top and bottom


def make_celeba(root: Path) -> Path:
    """Write a CelebA-format folder: 4 (Male, Smiling) cells x ``COUNTS`` images in the 3 partitions.

    Image ``i`` is a flat colour ``(10 * (i % 25), 128, 255 - 10 * (i % 25))`` with black bands of
    3 rows at the top and bottom, which the centre square crop removes.
    """
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = root / "img_align_celeba"
    folder.mkdir(parents=True)
    lines, partition = [], []
    n = N
    for i in range(n):
        part, cell = int(PARTITION[i]), i % 4
        male, smiling = cell // 2, cell % 2
        values = rng.choice([-1, 1], size=len(ATTRIBUTES))
        values[ATTRIBUTES.index("Male")] = 1 if male else -1
        values[ATTRIBUTES.index("Smiling")] = 1 if smiling else -1
        name = f"{i + 1:06d}.jpg"
        lines.append(name + " " + " ".join(f"{v:2d}" for v in values))
        partition.append(f"{name} {part}")
        pixels = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
        pixels[3:HEIGHT - 3] = (10 * (i % 25), 128, 255 - 10 * (i % 25))
        Image.fromarray(pixels).save(folder / name, quality=95, subsampling=0)
    (root / "list_attr_celeba.txt").write_text(f"{n}\n" + " ".join(ATTRIBUTES) + " \n" + "\n".join(lines) + "\n")
    (root / "list_eval_partition.txt").write_text("\n".join(partition) + "\n")
    return root


@pytest.fixture()
def fixture_dir(tmp_path: Path) -> Path:
    return make_celeba(tmp_path / "celeba")


@pytest.fixture()
def pinned(fixture_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture folder with the MD5 pins set to the fixture's files, and ``$FAIRBENCH_CELEBA_DIR`` to it."""
    for name in (celeba.ATTRIBUTES_FILE, celeba.PARTITION_FILE):
        monkeypatch.setitem(celeba.PINNED_MD5, name, celeba.md5_file(fixture_dir / name))
    monkeypatch.setenv(celeba.CELEBA_DIR_ENV, str(fixture_dir))
    monkeypatch.setattr("fairbench.data.images._TABLES", {})
    return fixture_dir


def test_annotations_parse_the_official_format(fixture_dir: Path) -> None:
    notes = celeba.read_annotations(CelebAFiles(fixture_dir))
    assert notes.names == ATTRIBUTES and notes.files[0] == "000001.jpg" and len(notes.files) == N
    assert notes.values.dtype == np.int8 and set(np.unique(notes.values)) == {-1, 1}
    assert np.array_equal(notes.partition, PARTITION)
    assert np.array_equal(notes.column("Male")[:4], [0, 0, 1, 1])
    assert np.array_equal(notes.column("Smiling")[:4], [0, 1, 0, 1])
    with pytest.raises(ValueError, match="unknown attribute 'Smile'"):
        notes.column("Smile")


def test_official_md5_pins_refuse_other_files(fixture_dir: Path) -> None:
    with pytest.raises(ChecksumError, match=r"list_attr_celeba.txt has MD5 [0-9a-f]{32}, the official file has "
                                            "75e246fa4810816ffd6ee81facbd244c"):
        celeba.verify(CelebAFiles(fixture_dir))


def test_verify_records_the_sha256_of_both_text_files(pinned: Path) -> None:
    recorded = celeba.verify(CelebAFiles(pinned))
    assert sorted(recorded) == ["celeba/list_attr_celeba.txt", "celeba/list_eval_partition.txt"]
    assert all(len(v) == 64 for v in recorded.values())


@pytest.mark.parametrize("missing", ["list_attr_celeba.txt", "list_eval_partition.txt", "img_align_celeba"])
def test_a_missing_official_file_names_the_fix(pinned: Path, missing: str) -> None:
    target = pinned / missing
    if target.is_dir():
        for f in target.iterdir():
            f.unlink()
        target.rmdir()
    else:
        target.unlink()
    with pytest.raises(DataUnavailableError, match=f"not found at .*{missing}. .*{celeba.CELEBA_DIR_ENV}"):
        celeba.verify(CelebAFiles(pinned))


def test_a_listed_image_that_is_missing_is_an_error(pinned: Path) -> None:
    (pinned / "img_align_celeba" / "000007.jpg").unlink()
    with pytest.raises(DataUnavailableError, match="1 listed images are missing .*first: 000007.jpg"):
        CelebASetting().build(CelebAFiles(pinned), workers=1)


@pytest.mark.parametrize("edit, message", [
    (lambda text: f"{N + 1}\n" + text.split("\n", 1)[1], f"says {N + 1} images, the file lists {N}"),
    (lambda text: re.sub(r"(000003\.jpg\s+)-?1", r"\g<1>0", text), "line 5: expected a file name and 40 values"),
    (lambda text: text.replace("Young", "Old"), None),
])
def test_malformed_attribute_lists_are_refused(fixture_dir: Path, edit: Callable[[str], str],
                                              message: str | None) -> None:
    path = fixture_dir / "list_attr_celeba.txt"
    path.write_text(edit(path.read_text()))
    files = CelebAFiles(fixture_dir)
    if message is None:  # a renamed attribute parses, but asking for the original name is a clear error
        with pytest.raises(ValueError, match="unknown attribute 'Young'"):
            celeba.read_annotations(files).column("Young")
        return
    with pytest.raises(FrameError, match=message):
        celeba.read_annotations(files)


def test_partition_list_must_match_the_attribute_list(fixture_dir: Path) -> None:
    path = fixture_dir / "list_eval_partition.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n")
    with pytest.raises(FrameError, match="its images differ from those of list_attr_celeba.txt"):
        celeba.read_annotations(CelebAFiles(fixture_dir))


def test_preprocessing_crops_the_centre_square_and_resizes(fixture_dir: Path) -> None:
    image = celeba.load_image(fixture_dir / "img_align_celeba" / "000003.jpg", 8)
    assert image.shape == (3, 8, 8) and image.dtype == np.uint8
    # the black bands are cropped away: every pixel is near the flat colour (JPEG noise aside)
    expected = np.array([20, 128, 235])[:, None, None]
    assert np.abs(image.astype(int) - expected).max() <= 40  # a kept band would be off by 100 or more


def test_parallel_decoding_keeps_the_list_order(fixture_dir: Path) -> None:
    names = celeba.read_annotations(CelebAFiles(fixture_dir)).files
    folder = fixture_dir / "img_align_celeba"
    one = celeba.load_images(folder, names, 8, workers=1, chunk=5)
    two = celeba.load_images(folder, names, 8, workers=2, chunk=5)
    assert one.shape == (N, 3, 8, 8) and np.array_equal(one, two)
    assert np.array_equal(one[7], celeba.load_image(folder / names[7], 8))


def test_folder_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(celeba.CELEBA_DIR_ENV, raising=False)
    mirror = tmp_path / "mirror"
    (mirror / "celeba").mkdir(parents=True)
    assert celeba.resolve_root(mirror=mirror) == mirror / "celeba"
    assert celeba.resolve_root(mirror=tmp_path / "none", data_dir=tmp_path / "cache") == tmp_path / "cache" / "celeba"
    monkeypatch.setenv(celeba.CELEBA_DIR_ENV, str(tmp_path / "env"))
    assert celeba.resolve_root(mirror=mirror) == tmp_path / "env"
    assert celeba.resolve_root(tmp_path / "arg", mirror=mirror) == tmp_path / "arg"


def test_data_list_says_whether_the_folder_is_there(fixture_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from fairbench.cli import main

    def listed() -> dict[str, str]:
        assert main(["data", "list", "--data-dir", str(tmp_path / "cache")]) == 0
        rows = [line.split() for line in capsys.readouterr().out.splitlines()]
        return {row[0]: row[6] for row in rows if row[0].startswith(("celeba", "digits"))}

    monkeypatch.delenv(celeba.CELEBA_DIR_ENV, raising=False)
    monkeypatch.delenv("FAIRBENCH_DATA_MIRROR", raising=False)
    assert listed() == {"digits-colour": "yes", **{s.name: "no" for s in celeba.SETTINGS}}
    monkeypatch.setenv(celeba.CELEBA_DIR_ENV, str(fixture_dir))
    assert listed() == {"digits-colour": "yes", **{s.name: "yes" for s in celeba.SETTINGS}}


def test_prepare_all_skips_celeba_without_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from fairbench.cli import main
    from fairbench.data import cli as data_cli

    monkeypatch.delenv(celeba.CELEBA_DIR_ENV, raising=False)
    monkeypatch.delenv("FAIRBENCH_DATA_MIRROR", raising=False)
    monkeypatch.setattr(data_cli, "list_settings", lambda: ["digits-colour", "celeba_smiling-male"])
    out = tmp_path / "prepared"
    assert main(["data", "prepare", "all", "--out", str(out), "--data-dir", str(tmp_path / "cache")]) == 0
    captured = capsys.readouterr()
    assert "skipped celeba_smiling-male: its source files are not at hand" in captured.err
    assert (out / "digits-colour.parquet").is_file() and not (out / "celeba_smiling-male.parquet").exists()
    # named explicitly, the missing folder is an error naming the fix
    assert main(["data", "prepare", "celeba_smiling-male", "--out", str(out), "--data-dir", str(tmp_path)]) == 2
    assert celeba.CELEBA_DIR_ENV in capsys.readouterr().err


def test_registered_settings_and_names() -> None:
    names = list_settings()
    for name in ("celeba_smiling-male", "celeba_smiling-young", "celeba_attractive-male", "celeba_attractive-young"):
        assert name in names
    spec = get_setting("celeba_smiling-male")
    assert spec.group_names == ["Female", "Male"] and spec.n_features == 3 * 64 * 64
    assert dict(spec.hyperparams)["model"] == "resnet18"
    assert CelebASetting("Attractive", "Young", image_size=32).name == "celeba32_attractive-young"
    assert CelebASetting("Attractive", "Young").group_names == ["not Young", "Young"]


def test_prepare_and_split_through_the_data_layer(pinned: Path, tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    path = prepare("celeba_smiling-male", out)
    parquet, manifest_path = prepared_paths(out, "celeba_smiling-male")
    assert path == parquet and parquet.is_file()
    manifest = json.loads(manifest_path.read_text())
    assert manifest["input_shape"] == [3, 64, 64] and manifest["max_value"] == 255 and manifest["n_rows"] == N
    assert manifest["group_names"] == ["Female", "Male"]
    assert sorted(manifest["raw_files"]) == ["celeba/list_attr_celeba.txt", "celeba/list_eval_partition.txt"]

    table = read_image_table(out, "celeba_smiling-male")
    assert table.pixels.shape == (N, 3, 64, 64) and table.pixels.dtype == np.uint8
    assert np.array_equal(table.image, np.arange(1, N + 1)) and np.array_equal(table.partition, PARTITION)

    data = load_split("celeba_smiling-male", split=4, test_with_replacement=False, val_per_cell=2, prepared_dir=out)
    assert data.input_shape == (3, 64, 64) and data.split == "seed4-norepl"
    assert np.array_equal(data.train.index, np.arange(12))  # the official training partition
    assert set(data.val.index) <= set(np.flatnonzero(PARTITION == 1))
    assert set(data.test.index) <= set(np.flatnonzero(PARTITION == 2))
    assert np.array_equal(np.bincount(data.val.cell, minlength=4), [2, 2, 2, 2])
    assert np.array_equal(np.bincount(data.test.cell, minlength=4), [PER_CELL] * 4)  # smallest test cell
    assert data.train.X.dtype == np.float32 and 0.0 <= data.train.X.min() and data.train.X.max() <= 1.0
    assert np.allclose(data.train.X, table.pixels[:12].reshape(12, -1) / 255.0)

    built = load_split("celeba_smiling-male", split=4, test_with_replacement=False, val_per_cell=2)
    assert np.array_equal(built.train.X, data.train.X) and np.array_equal(built.val.index, data.val.index)

    paper = load_split("celeba_smiling-male", split="paper", prepared_dir=out)
    again = load_split("celeba_smiling-male", split="paper", prepared_dir=out)
    assert paper.split == "fixed-seed0" and np.array_equal(paper.test.index, again.test.index)
    with pytest.raises(ValueError, match="paper split is fixed"):
        load_split("celeba_smiling-male", split="paper", val_per_cell=3, prepared_dir=out)


def test_other_attributes_and_sizes_from_code(pinned: Path) -> None:
    from fairbench.data.images import register_celeba

    name = register_celeba("Eyeglasses", "Young", image_size=16)
    assert name == "celeba16_eyeglasses-young" and name in list_settings()
    assert register_celeba("Eyeglasses", "Young", image_size=16) == name  # registering again is a no-op
    data = load_split(name, split=1, val_per_cell=1)
    assert data.input_shape == (3, 16, 16) and data.group_names == ["not Young", "Young"]
    notes = celeba.read_annotations(CelebAFiles(pinned))
    assert np.array_equal(data.train.y, notes.column("Eyeglasses")[data.train.index])
    assert np.array_equal(data.train.group, notes.column("Young")[data.train.index])
    with pytest.raises(ValueError, match="label and group must differ"):
        register_celeba("Young", "Young")


def test_a_tampered_prepared_file_is_refused(pinned: Path, tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    prepare("celeba_smiling-male", out)
    parquet, _ = prepared_paths(out, "celeba_smiling-male")
    parquet.write_bytes(parquet.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(PreparedDataError, match="parquet sha256 differs"):
        read_image_table(out, "celeba_smiling-male")


def test_validation_needs_enough_rows_per_cell(pinned: Path) -> None:
    from fairbench.data.errors import SplitError

    with pytest.raises(SplitError, match=r"validation partition has 10 rows in cell 0, needs 11"):
        load_split("celeba_smiling-male", split=0, val_per_cell=11)


@pytest.mark.slow
def test_a_short_resnet18_run_on_the_fixture(pinned: Path, tmp_path: Path) -> None:
    from fairbench.runs.execute import RunSpec, execute

    out = tmp_path / "prepared"
    prepare("celeba_smiling-male", out)
    spec = RunSpec.resolve("celeba_smiling-male", "nbs_ltr", 0, "standard",
                           {"epochs": 1, "batch_size": 6, "val_per_cell": 1})
    assert spec.hparams.model == "resnet18"
    run = execute(spec, tmp_path / "run", prepared_dir=out, progress=False)
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete" and record["data"]["n_features"] == 3 * 64 * 64
    assert record["steps"] == 2 and record["meta_steps"] == 2


def test_the_gpu_config_plans_the_paper_methods_on_cuda() -> None:
    import yaml

    from fairbench.registry import PAPER_METHODS
    from fairbench.pipeline.config import check_config

    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "celeba.yaml").read_text())
    jobs = check_config(config)
    assert config["device"] == "cuda" and {job.setting for job in jobs} == {"celeba_smiling-male"}
    assert sorted({job.method for job in jobs}) == sorted(PAPER_METHODS)
    assert reference_hyperparams("celeba_smiling-male").model == "resnet18"
