"""Real raw files from the mirror: frames, encoded widths, the paper split check, new splits, load_split."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fairbench.data import DataWarning, fetch, list_datasets, list_settings, load_split
from fairbench.data.frames import ReferenceFrame, reference_frame
from fairbench.data.indices import check_indices, draw_indices, load_paper_indices
from fairbench.data.preprocess import EncodedTable, fit_scaler
from fairbench.data.registry import get_setting

pytestmark = pytest.mark.mirror

Built = Callable[[str], tuple[ReferenceFrame, EncodedTable]]

# setting: (frame shape, positives, rows per group, encoded width, paper test per cell, paper val per cell)
EXPECTED = {
    "adult-sex": ((48842, 14), 11687, [16192, 32650], 105, 366, 3),
    "adult-race": ((48842, 14), 11687, [470, 1519, 4685, 406, 41762], 105, 146, 3),
    "bank-age": ((45211, 16), 39922, [1336, 43875], 51, 339, 3),
    "default_credit-sex": ((30000, 24), 23364, [11888, 18112], 24, 225, 4),
    "student_por-sex": ((649, 32), 549, [383, 266], 58, 16, 2),
    "titanic-sex": ((1309, 13), 500, [466, 843], 1526, 9, 1),
    "us_crime-blackgt6pct": ((1994, 102), 1872, [1024, 970], 1929, 14, 1),
}


def test_expected_table_covers_every_setting() -> None:
    """Every setting with a paper split file (the declared ones are checked in test_data_declared.py)."""
    assert sorted(EXPECTED) == sorted(s for s in list_settings() if get_setting(s).paper_split is not None)


def test_every_mirror_file_has_its_pinned_checksum(mirror: Path, session_data_dir: Path) -> None:
    for dataset in list_datasets():
        for path in fetch(dataset, data_dir=session_data_dir, mirror=mirror).values():
            assert path.is_relative_to(session_data_dir)


@pytest.mark.parametrize("setting", list(EXPECTED))
def test_frame_labels_groups_and_width(setting: str, built: Built) -> None:
    shape, positives, per_group, width, _, _ = EXPECTED[setting]
    frame, table = built(setting)
    assert frame.X.shape == shape
    assert list(frame.X.index) == list(range(shape[0]))
    assert frame.y.dtype == np.int64 and set(np.unique(frame.y)) == {0, 1}
    assert int(frame.y.sum()) == positives
    assert frame.group_names == get_setting(setting).group_names
    assert np.bincount(frame.group).tolist() == per_group
    assert table.features.shape == (shape[0], width)
    assert table.feature_names == sorted(table.feature_names)
    assert all(name == name.strip() for name in table.feature_names)


@pytest.mark.parametrize("setting", list(EXPECTED))
def test_paper_split_cells_are_exactly_balanced(setting: str, built: Built) -> None:
    """The sharp check of docs/datasets.md §4: it proves row order, labels and group definitions at once."""
    _, _, _, _, test_per_cell, val_per_cell = EXPECTED[setting]
    frame, _ = built(setting)
    idx = load_paper_indices(setting)
    n_cells = get_setting(setting).n_cells
    assert np.bincount(frame.cell[idx.test], minlength=n_cells).tolist() == [test_per_cell] * n_cells
    assert np.bincount(frame.cell[idx.val], minlength=n_cells).tolist() == [val_per_cell] * n_cells
    assert not np.intersect1d(idx.val, idx.test).size
    rest = np.setdiff1d(np.arange(len(frame.y)), np.r_[idx.test, idx.val])
    assert np.array_equal(np.sort(idx.train), rest)


def test_frame_specifics(built: Built) -> None:
    adult, _ = built("adult-race")
    assert adult.X["workclass"].isna().sum() == 2799 and adult.X["occupation"].isna().sum() == 2809
    assert not adult.X["race"].isna().any()
    bank, _ = built("bank-age")
    assert bank.X["age"].between(18, 25).sum() == 1336  # age > 25 strict: 25-year-olds are group 0
    credit, credit_table = built("default_credit-sex")
    assert credit.X["id"].tolist() == list(range(1, 30001))
    assert set(credit.X["sex"].unique()) == {1, 2} and "sex" in credit_table.feature_names
    titanic, titanic_table = built("titanic-sex")
    assert {"boat", "body", "name"} <= set(titanic.X.columns)
    assert titanic.X["age"].iloc[1] == pytest.approx(0.9167)
    zero_dummies = {"cabin_0", "boat_0", "embarked_0", "home.dest_0"}
    assert zero_dummies | {"sex_female", "sex_male"} <= set(titanic_table.feature_names)
    assert not any(name.startswith("name_") for name in titanic_table.feature_names)
    crime, crime_table = built("us_crime-blackgt6pct")
    assert "racepctblack" not in crime.X.columns and not crime.X.isna().any().any()
    assert crime.X["blackgt6pct"].dtype == bool
    assert np.array_equal(crime.X["blackgt6pct"].to_numpy(), crime.group.astype(bool))
    assert sum(name.startswith("communityname_") for name in crime_table.feature_names) == 1828
    assert {"county", "community", "othpercap"}.isdisjoint(crime.X.columns)


def test_titanic_csv_alternative_warns_and_differs_only_in_nine_ages(
    mirror: Path, tmp_path: Path, built: Built
) -> None:
    csv_only = tmp_path / "mirror"
    (csv_only / "titanic").mkdir(parents=True)
    shutil.copy(mirror / "titanic/titanic3.csv", csv_only / "titanic/titanic3.csv")
    with pytest.warns(DataWarning, match="rounds 9 infant ages"):
        from_csv = reference_frame("titanic-sex", data_dir=tmp_path / "cache", mirror=csv_only)
    from_xls, _ = built("titanic-sex")
    assert np.array_equal(from_csv.y, from_xls.y) and np.array_equal(from_csv.group, from_xls.group)
    differs = ~from_csv.X.eq(from_xls.X) & ~(from_csv.X.isna() & from_xls.X.isna())
    assert differs.sum().to_dict() == {c: (9 if c == "age" else 0) for c in from_xls.X.columns}
    assert np.allclose(from_csv.X["age"], from_xls.X["age"], atol=0.005, equal_nan=True)


@pytest.mark.parametrize("setting", list(EXPECTED))
def test_seeded_splits_follow_the_recipe(setting: str, built: Built) -> None:
    frame, _ = built(setting)
    spec = get_setting(setting)
    _, _, _, _, test_per_cell, val_per_cell = EXPECTED[setting]
    kwargs = dict(test_fraction=spec.test_fraction, val_per_cell=spec.val_per_cell, setting=setting)
    a = draw_indices(frame.group, frame.y, spec.n_groups, seed=0, **kwargs)
    check_indices(a, frame.group, frame.y, spec.n_groups, setting=setting, split="seed0")
    assert np.bincount(frame.cell[a.test]).tolist() == [test_per_cell] * spec.n_cells
    assert np.bincount(frame.cell[a.val]).tolist() == [val_per_cell] * spec.n_cells
    again = draw_indices(frame.group, frame.y, spec.n_groups, seed=0, **kwargs)
    other = draw_indices(frame.group, frame.y, spec.n_groups, seed=1, **kwargs)
    assert all(np.array_equal(getattr(a, p), getattr(again, p)) for p in ("train", "val", "test"))
    assert not np.array_equal(a.test, other.test)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        norepl = draw_indices(frame.group, frame.y, spec.n_groups, seed=0, test_with_replacement=False, **kwargs)
    check_indices(norepl, frame.group, frame.y, spec.n_groups, setting=setting, split="seed0-norepl")
    assert len(np.unique(norepl.test)) == len(norepl.test)
    capped = [w for w in caught if issubclass(w.category, DataWarning)]
    assert bool(capped) == (setting in {"adult-race", "bank-age", "us_crime-blackgt6pct"})


@pytest.mark.parametrize("setting", list(EXPECTED))
def test_load_split_paper(setting: str, built: Built, mirror: Path, session_data_dir: Path) -> None:
    data = load_split(setting, data_dir=session_data_dir, mirror=mirror)
    spec = get_setting(setting)
    _, _, _, width, test_per_cell, val_per_cell = EXPECTED[setting]
    assert (data.setting, data.split, data.n_features, data.n_groups, data.n_cells) == (
        setting, "paper", width, spec.n_groups, spec.n_cells
    )
    assert data.cell_names[1] == f"{spec.group_names[0]}|y=1" and len(data.cell_names) == spec.n_cells
    assert len(data.test) == test_per_cell * spec.n_cells and len(data.val) == val_per_cell * spec.n_cells
    for part in (data.train, data.val, data.test):
        assert part.X.dtype == np.float32 and part.X.shape == (len(part), width)
        assert all(a.dtype == np.int64 for a in (part.y, part.group, part.cell, part.index))
        assert np.array_equal(part.cell, part.group * 2 + part.y)
        assert np.isfinite(part.X).all()


def test_load_split_scaler_fits(mirror: Path, session_data_dir: Path, built: Built) -> None:
    _, table = built("student_por-sex")
    paper = load_split("student_por-sex", data_dir=session_data_dir, mirror=mirror)
    scaler = fit_scaler(table.matrix)
    np.testing.assert_allclose(paper.train.X, scaler.transform(table.matrix[paper.train.index]), atol=1e-6)
    kw = dict(data_dir=session_data_dir, mirror=mirror)
    standard = load_split("student_por-sex", split=3, scaler_fit="train", test_with_replacement=False, **kw)
    assert standard.split == "seed3-norepl"
    varying = table.matrix[standard.train.index].std(axis=0) > 0
    np.testing.assert_allclose(standard.train.X.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(standard.train.X[:, varying].std(axis=0), 1.0, atol=1e-4)
    seeded = load_split("student_por-sex", split=3, val_per_cell=5, **kw)
    assert seeded.split == "seed3" and len(seeded.val) == 20


def test_load_split_options_are_validated(mirror: Path, session_data_dir: Path) -> None:
    kw = dict(data_dir=session_data_dir, mirror=mirror)
    assert load_split("titanic-sex", val_per_cell=1, **kw).split == "paper"  # the paper's own k is accepted
    with pytest.raises(ValueError, match="the paper split is fixed"):
        load_split("titanic-sex", val_per_cell=2, **kw)
    with pytest.raises(ValueError, match="the paper split is fixed"):
        load_split("titanic-sex", test_with_replacement=False, **kw)
    with pytest.raises(ValueError, match="integer seed"):
        load_split("titanic-sex", split="seed1", **kw)
    with pytest.raises(ValueError, match="scaler_fit must be one of"):
        load_split("titanic-sex", scaler_fit="test", **kw)  # type: ignore[arg-type]


def test_to_torch(mirror: Path, session_data_dir: Path) -> None:
    torch = pytest.importorskip("torch")
    part = load_split("titanic-sex", data_dir=session_data_dir, mirror=mirror).val.to_torch()
    assert part.X.dtype == torch.float32 and part.X.shape == (4, 1526)
    assert all(t.dtype == torch.int64 for t in (part.y, part.group, part.cell, part.index))
    assert part.cell.tolist() == [0, 1, 2, 3]
