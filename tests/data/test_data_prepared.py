"""Prepared Parquet + manifest: round trip, validation, and loading with Hugging Face ``datasets``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairbench.data import PreparedDataError, load_prepared, load_split, prepare
from fairbench.data.acquire import sha256_file
from fairbench.data.frames import ReferenceFrame
from fairbench.data.preprocess import EncodedTable
from fairbench.data.registry import get_dataset

pytestmark = pytest.mark.mirror
Built = Callable[[str], tuple[ReferenceFrame, EncodedTable]]
SETTING = "student_por-sex"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, mirror: Path, session_data_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("prepared")
    path = prepare(SETTING, out, data_dir=session_data_dir, mirror=mirror)
    assert path == out / f"{SETTING}.parquet"
    return out


def test_manifest_records_layout_and_hashes(prepared: Path) -> None:
    manifest = json.loads((prepared / f"{SETTING}.json").read_text())
    assert manifest["setting"] == SETTING and manifest["dataset"] == "student_por"
    assert manifest["n_rows"] == 649 and manifest["n_features"] == 58 == len(manifest["feature_names"])
    assert manifest["group_names"] == ["F", "M"]
    assert manifest["cell_names"] == ["F|y=0", "F|y=1", "M|y=0", "M|y=1"]
    assert manifest["scaled"] is False
    assert manifest["raw_files"] == {"student/student-por.csv": get_dataset("student_por").files[0].sha256}
    assert manifest["parquet"]["sha256"] == sha256_file(prepared / f"{SETTING}.parquet")
    assert sorted(p.name for p in prepared.iterdir()) == [f"{SETTING}.json", f"{SETTING}.parquet"]


def test_parquet_columns_are_stable(prepared: Path) -> None:
    frame = pd.read_parquet(prepared / f"{SETTING}.parquet")
    names = json.loads((prepared / f"{SETTING}.json").read_text())["feature_names"]
    assert list(frame.columns) == [*names, "__label__", "__group__"]
    assert names == sorted(names)
    assert frame["__label__"].dtype == np.int64 and frame["__group__"].dtype == np.int64
    assert frame["sex_F"].tolist() == (frame["__group__"] == 0).astype(int).tolist()  # the attribute stays a feature


def test_round_trip_gives_the_same_split(prepared: Path, built: Built, mirror: Path, session_data_dir: Path) -> None:
    _, table = built(SETTING)
    loaded = load_prepared(prepared, SETTING)
    assert loaded.feature_names == table.feature_names
    np.testing.assert_array_equal(loaded.matrix, table.matrix)
    np.testing.assert_array_equal(loaded.y, table.y)
    np.testing.assert_array_equal(loaded.group, table.group)
    for split in ("paper", 5):
        a = load_split(SETTING, split=split, prepared_dir=prepared)
        b = load_split(SETTING, split=split, data_dir=session_data_dir, mirror=mirror)
        for name in ("train", "val", "test"):
            np.testing.assert_array_equal(getattr(a, name).X, getattr(b, name).X)
            np.testing.assert_array_equal(getattr(a, name).index, getattr(b, name).index)


def test_missing_prepared_data_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(PreparedDataError, match=rf"fairbench data prepare {SETTING} --prepared"):
        load_prepared(tmp_path, SETTING)


@pytest.mark.parametrize("damage", ["parquet-bytes", "manifest-setting", "manifest-json"])
def test_damaged_prepared_data_is_rejected(prepared: Path, tmp_path: Path, damage: str) -> None:
    for name in (f"{SETTING}.parquet", f"{SETTING}.json"):
        (tmp_path / name).write_bytes((prepared / name).read_bytes())
    if damage == "parquet-bytes":
        with open(tmp_path / f"{SETTING}.parquet", "ab") as fh:
            fh.write(b"\0")
    elif damage == "manifest-setting":
        manifest = json.loads((tmp_path / f"{SETTING}.json").read_text())
        manifest["setting"] = "titanic-sex"
        (tmp_path / f"{SETTING}.json").write_text(json.dumps(manifest))
    else:
        (tmp_path / f"{SETTING}.json").write_text("{not json")
    with pytest.raises(PreparedDataError, match="is inconsistent"):
        load_prepared(tmp_path, SETTING)


def test_huggingface_datasets_reads_the_parquet_offline(prepared: Path, tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    script = textwrap.dedent(
        f"""
        import os
        from fairbench.data.hf import load_hf_dataset
        ds = load_hf_dataset({str(prepared)!r}, {SETTING!r}, cache_dir={str(tmp_path / "cache")!r})
        assert os.environ["HF_DATASETS_OFFLINE"] == "1" and os.environ["HF_HUB_OFFLINE"] == "1"
        print(ds.num_rows, len(ds.column_names), sum(ds["__label__"]))
        """
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HF_")},
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_DATASETS_CACHE": str(tmp_path / "cache"),
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["649", "60", "549"]
