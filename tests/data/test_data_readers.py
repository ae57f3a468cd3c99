"""Raw-file readers and frame steps on tiny synthetic files (no mirror needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairbench.data import readers
from fairbench.data.errors import FrameError
from fairbench.data.frames import with_group
from fairbench.data.readers import read_adult, read_bank, read_default_credit, read_student_por, read_us_crime
from fairbench.data.registry import get_setting

ADULT_ROW = (
    "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, "
    "2174, 0, 40, United-States, {label}\n"
)


def test_adult_puts_test_rows_first_and_strips_the_dot(tmp_path: Path) -> None:
    (tmp_path / "adult.test").write_text(
        "|1x3 Cross validator\n"
        + ADULT_ROW.format(label=">50K.").replace("State-gov", "?")
        + ADULT_ROW.format(label="<=50K.")
    )
    (tmp_path / "adult.data").write_text(ADULT_ROW.format(label="<=50K") + ADULT_ROW.format(label=">50K") + "\n")
    X, y = read_adult({"test": tmp_path / "adult.test", "data": tmp_path / "adult.data"})
    assert X.shape == (4, 14) and y.tolist() == [1, 0, 0, 1] and y.dtype == np.int64
    assert list(X.columns) == list(readers.ADULT_COLUMNS)
    assert np.isnan(X.loc[0, "workclass"]) and X.loc[1, "workclass"] == "State-gov"
    assert X["age"].dtype == np.int64 and X.loc[2, "native-country"] == "United-States"


def test_bank_favourable_is_no_subscription(tmp_path: Path) -> None:
    (tmp_path / "b.csv").write_text('"age";"job";"y"\n25;"unknown";"no"\n26;"admin.";"yes"\n')
    X, y = read_bank({"table": tmp_path / "b.csv"})
    assert y.tolist() == [1, 0] and X["job"].tolist() == ["unknown", "admin."]
    frame = with_group(get_setting("bank-age"), X, y)
    assert frame.group.tolist() == [0, 1] and frame.group_names == ["age<=25", "age>25"]
    assert "age" in frame.X.columns


def test_default_credit_csv_and_xls_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    header = '"ID","LIMIT_BAL","SEX","PAY_0","default.payment.next.month"'
    (tmp_path / "c.csv").write_text(header + "\n1,20000,2,2,1\n2,120000.0,1,-1,0\n")
    X_csv, y_csv = read_default_credit({"table": tmp_path / "c.csv"})
    workbook = pd.DataFrame(  # what the UCI workbook gives (header on row 2): floats, spaced label name
        {"ID": [1.0, 2.0], "LIMIT_BAL": [20000.0, 120000.0], "SEX": [2.0, 1.0], "PAY_0": [2.0, -1.0],
         "default payment next month": [1.0, 0.0]}
    )  # fmt: skip
    seen = {}

    def fake_xls(path: Path, *, header_row: int) -> pd.DataFrame:
        seen["header_row"] = header_row
        return workbook.copy()

    monkeypatch.setattr(readers, "_xls_frame", fake_xls)
    X_xls, y_xls = read_default_credit({"table": tmp_path / "default of credit card clients.xls"})
    assert seen == {"header_row": 1}
    pd.testing.assert_frame_equal(X_csv, X_xls)
    assert y_csv.tolist() == y_xls.tolist() == [0, 1]
    assert list(X_csv.columns) == ["id", "limit_bal", "sex", "pay_0"] and X_csv["sex"].dtype == np.int64
    frame = with_group(get_setting("default_credit-sex"), X_csv, y_csv)
    assert frame.group.tolist() == [1, 0] and frame.group_names == ["male", "female"]


def test_student_label_threshold(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text('school;sex;G1;G2;G3\n"GP";"F";"0";"11";10\n"MS";"M";"9";"9";9\n')
    X, y = read_student_por({"table": tmp_path / "s.csv"})
    assert list(X.columns) == ["school", "sex", "g1", "g2"] and y.tolist() == [1, 0]
    assert X["g1"].dtype == np.int64  # quoted numbers stay numeric


def test_us_crime_names_label_and_group_column(tmp_path: Path) -> None:
    (tmp_path / "c.names").write_text(
        "@relation crime\n@attribute state numeric\n@attribute county numeric\n@attribute communityname string\n"
        "@attribute racepctblack numeric\n@attribute medIncome numeric\n@attribute ViolentCrimesPerPop numeric\n"
    )
    rows = ["8,?,Lakewoodcity,0.02,0.3,0.2", "53,5,NA,0.5,0.1,0.7", "24,?,Tukwilacity,0.06,0.2,0.69"]
    (tmp_path / "c.data").write_text("\n".join(rows) + "\n")
    X, y = read_us_crime({"data": tmp_path / "c.data", "names": tmp_path / "c.names"})
    assert list(X.columns) == ["state", "county", "communityname", "racepctblack", "medincome"]
    assert y.tolist() == [1, 0, 1]  # violentcrimesperpop >= 0.7 is the unfavourable class
    assert X["communityname"].tolist() == ["Lakewoodcity", "NA", "Tukwilacity"]  # "NA" is a name, not missing
    frame = with_group(get_setting("us_crime-blackgt6pct"), X, y)
    assert frame.group.tolist() == [0, 1, 0]  # 0.06 is not > 0.06
    assert list(frame.X.columns) == ["state", "communityname", "medincome", "blackgt6pct"]
    assert frame.X["blackgt6pct"].tolist() == [False, True, False]


def test_unexpected_group_values_are_an_error() -> None:
    X = pd.DataFrame({"sex": ["F", "M", "X"]})
    with pytest.raises(FrameError, match="'sex' has values"):
        with_group(get_setting("student_por-sex"), X, np.array([0, 1, 0]))
    with pytest.raises(FrameError, match="missing values in 'sex'"):
        with_group(get_setting("student_por-sex"), pd.DataFrame({"sex": ["F", None]}), np.array([0, 1]))


def test_xls_text_cells() -> None:
    assert readers._xls_text(24160.0) == "24160"
    assert readers._xls_text("PC 17609") == "PC 17609"
    assert np.isnan(readers._xls_text(float("nan")))
    assert readers._xls_text(2.5) == "2.5"
