"""Encoding and standardisation on small synthetic frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fairbench.data.errors import FrameError
from fairbench.data.preprocess import encode, fit_scaler, reference_steps
from fairbench.data.registry import get_dataset


def test_get_dummies_semantics() -> None:
    X = pd.DataFrame(
        {
            "zeta": [1.5, 2.5, np.nan],
            "colour": pd.Series(["red", np.nan, "blue"], dtype="object"),
            "flag": [True, False, True],
            "kind": pd.Series(["b", "a", "b"], dtype="category"),
            "name": pd.Series(["x", "y", "x"], dtype="string"),
            "count": [1, 2, 3],
        }
    )
    out = encode(X)
    assert list(out.columns) == sorted(out.columns)
    assert list(out.columns) == [
        "colour_blue", "colour_red", "count", "flag", "kind_a", "kind_b", "name_x", "name_y", "zeta"
    ]  # fmt: skip
    assert out.loc[1, ["colour_blue", "colour_red"]].tolist() == [0, 0]  # NaN: no indicator, all zero
    assert out["flag"].tolist() == [1, 0, 1]  # bool stays one column
    assert out["flag"].dtype == np.uint8 and out["colour_red"].dtype == np.uint8
    assert out["count"].dtype == np.float64 and np.isnan(out.loc[2, "zeta"])


def test_titanic_steps_drop_name_and_fill_zero() -> None:
    X = pd.DataFrame(
        {
            "name": ["A", "B", "C"],
            "cabin": pd.Series(["C85", np.nan, "C85"], dtype="str"),
            "age": [22.0, np.nan, 0.9167],
            "pclass": [1, 3, 2],
        }
    )
    out = encode(reference_steps(X, get_dataset("titanic")))
    assert list(out.columns) == ["age", "cabin_0", "cabin_C85", "pclass"]
    assert out["cabin_0"].tolist() == [0, 1, 0]
    assert out["age"].tolist() == [22.0, 0.0, 0.9167]


def test_other_datasets_have_no_reference_steps() -> None:
    X = pd.DataFrame({"name": ["a", None], "v": [1.0, np.nan]})
    assert reference_steps(X, get_dataset("adult")).equals(X)


def test_colliding_names_are_an_error() -> None:
    X = pd.DataFrame({"a": ["x", "y"], "a_x": [1.0, 2.0]})
    with pytest.raises(FrameError, match="duplicate encoded columns"):
        encode(X)


def test_scaler_population_std_and_constant_columns() -> None:
    X = np.array([[1.0, 5.0, 0.0], [3.0, 5.0, 1.0], [5.0, 5.0, 0.0], [7.0, 5.0, 0.0]])
    scaler = fit_scaler(X)
    np.testing.assert_allclose(scaler.mean, [4.0, 5.0, 0.25])
    np.testing.assert_allclose(scaler.scale, [np.sqrt(5.0), 1.0, np.sqrt(0.1875)])
    Z = scaler.transform(X)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(Z[:, [0, 2]].std(axis=0), 1.0, rtol=1e-6)
    assert np.all(Z[:, 1] == 0.0)


def test_scaler_fit_on_training_rows_only() -> None:
    X = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0], [100.0, 9.0]])
    scaler = fit_scaler(X, rows=np.array([0, 1, 2, 1]))  # repeats do not change the fit
    np.testing.assert_allclose(scaler.mean, [2.0, 1.0])
    np.testing.assert_allclose(scaler.scale, [np.sqrt(8.0 / 3.0), 1.0])
    assert scaler.transform(X)[3, 1] == pytest.approx(8.0)  # constant on the fit rows: scale 1


def test_scaler_matches_sklearn() -> None:
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(3, 2, size=(50, 3)), np.zeros(50), rng.integers(0, 2, size=50)]
    ours = fit_scaler(X)
    theirs = preprocessing.StandardScaler().fit(X)
    np.testing.assert_allclose(ours.mean, theirs.mean_)
    np.testing.assert_allclose(ours.scale, theirs.scale_)
    np.testing.assert_allclose(ours.transform(X, np.float64), theirs.transform(X), atol=1e-12)
