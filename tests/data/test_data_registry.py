"""The registry: names, errors, pinned files, groups and split recipe."""

from __future__ import annotations

import re

import pytest

from fairbench.data import UnknownSettingError, get_dataset, get_setting, list_datasets, list_settings
from fairbench.data.registry import DATASETS, SETTINGS

SETTING_NAMES = [
    "adult-sex",
    "adult-race",
    "bank-age",
    "default_credit-sex",
    "student_por-sex",
    "titanic-sex",
    "us_crime-blackgt6pct",
]


PAPER_DATASETS = ["adult", "bank", "default_credit", "student_por", "titanic", "us_crime"]


def test_settings_and_datasets_are_listed() -> None:
    """The paper's seven settings come first, in the paper's order; the shipped declared ones follow."""
    assert list_settings()[:7] == SETTING_NAMES
    assert list_datasets()[:6] == PAPER_DATASETS
    assert {get_setting(s).dataset for s in SETTING_NAMES} == set(PAPER_DATASETS)
    assert {"german-age", "german-sex", "acs_income-sex"} <= set(list_settings()[7:])
    assert [get_setting(s).origin for s in SETTING_NAMES] == ["built-in"] * 7


@pytest.mark.parametrize("bad", ["adult", "Adult-Sex", "", "lending_club-race"])
def test_unknown_setting_lists_the_valid_names(bad: str) -> None:
    with pytest.raises(UnknownSettingError) as info:
        get_setting(bad)
    assert isinstance(info.value, ValueError)
    assert not isinstance(info.value, KeyError)
    message = str(info.value)
    assert repr(bad) in message
    assert all(name in message for name in SETTING_NAMES)


def test_unknown_dataset_lists_the_valid_names() -> None:
    with pytest.raises(UnknownSettingError, match="valid datasets: adult, bank, default_credit"):
        get_dataset("lending_club")


def test_every_raw_file_is_pinned_with_a_source() -> None:
    """The paper's datasets and the shipped spec datasets (image settings bring their own sources)."""
    list_datasets()
    shipped = [d for d in DATASETS.values() if d.name in PAPER_DATASETS or d.name in ("german", "acs_income")]
    assert len(shipped) == 8
    for dataset in shipped:
        assert dataset.inputs
        for raw in dataset.files:
            assert re.fullmatch(r"[0-9a-f]{64}", raw.sha256), raw
            assert raw.size is not None and raw.size > 0
            assert raw.sources, raw
            for source in raw.sources:
                assert source.url.startswith("https://"), source
                if source.url.endswith(".zip"):
                    assert source.member and source.member[-1] == raw.name, source


def test_mirror_paths_and_alternatives() -> None:
    relpaths = {f.relpath for d in DATASETS.values() for f in d.files}
    for expected in [
        "adult/adult.data",
        "adult/adult.test",
        "bank/bank-full.csv",
        "default_credit/UCI_Credit_Card.csv",
        "student/student-por.csv",
        "titanic/titanic3.xls",
        "communities/communities.data",
        "communities/communities.names",
    ]:
        assert expected in relpaths
    credit = get_dataset("default_credit").inputs[0].options
    assert [f.name for f in credit] == ["default of credit card clients.xls", "UCI_Credit_Card.csv"]
    assert credit[0].sha256.startswith("30c6be3a")
    titanic = get_dataset("titanic").inputs[0].options
    assert [f.name for f in titanic] == ["titanic3.xls", "titanic3.csv"]


def test_bank_and_student_pin_the_zip_member() -> None:
    bank = get_dataset("bank").files[0]
    assert bank.sources[0].url.endswith("/00222/bank.zip") and bank.sources[0].member == ("bank-full.csv",)
    assert bank.sources[1].member == ("bank.zip", "bank-full.csv")
    student = get_dataset("student_por").files[0]
    assert student.sources[0].member == ("student-por.csv",)


@pytest.mark.parametrize(
    ("setting", "val_per_cell", "test_fraction", "groups"),
    [
        ("adult-sex", 3, 0.03, ["Female", "Male"]),
        ("adult-race", 3, 0.03, ["Amer-Indian-Eskimo", "Asian-Pac-Islander", "Black", "Other", "White"]),
        ("bank-age", 3, 0.03, ["age<=25", "age>25"]),
        ("default_credit-sex", 4, 0.03, ["male", "female"]),
        ("student_por-sex", 2, 0.10, ["F", "M"]),
        ("titanic-sex", 1, 0.03, ["female", "male"]),
        ("us_crime-blackgt6pct", 1, 0.03, ["racepctblack<=0.06", "racepctblack>0.06"]),
    ],
)
def test_split_recipe_and_groups(setting: str, val_per_cell: int, test_fraction: float, groups: list[str]) -> None:
    spec = get_setting(setting)
    assert spec.val_per_cell == val_per_cell
    assert spec.test_fraction == test_fraction
    assert spec.group_names == groups
    assert spec.n_cells == 2 * len(groups)
    assert spec.paper_split.split("/")[0] == spec.dataset


def test_group_definitions() -> None:
    assert get_setting("bank-age").group.threshold == 25
    assert get_setting("default_credit-sex").group.values == (1, 2)
    crime = get_setting("us_crime-blackgt6pct").group
    assert (crime.threshold, crime.feature, crime.drop_attribute, crime.drop_missing_columns) == (
        0.06,
        "blackgt6pct",
        True,
        True,
    )
    for spec in (SETTINGS[name] for name in SETTING_NAMES):
        assert spec.group.kind == ("threshold" if spec.group.threshold is not None else "categorical")
