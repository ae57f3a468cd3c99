"""Tests of fairbench.evaluation.metrics: cross-checks against scikit-learn, properties, degenerate inputs."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    recall_score,
    roc_auc_score,
)

from fairbench.evaluation.metrics import (
    EMPTY_INPUT_ERROR,
    EVALUATE_GROUP_KEYS,
    EVALUATE_OVERALL_KEYS,
    GROUP_CODES_ERROR,
    GROUP_NAMES_ERROR,
    LABELS_NOT_0_1_ERROR,
    LENGTH_MISMATCH_ERROR,
    N_GROUPS_ERROR,
    NON_FINITE_SCORE_ERROR,
    NOT_ONE_DIMENSIONAL_ERROR,
    TABLE_METRICS,
    THRESHOLD_ERROR,
    accuracy,
    by_group,
    demographic_parity_difference,
    equalized_odds_difference,
    evaluate,
    f1,
    false_positive_rate,
    fpr_gap,
    group_auc_gap,
    hard_label_auc,
    roc_auc,
    selection_rate,
    tpr_gap,
    true_positive_rate,
    worst_group_auc,
)

# Any warning raised inside a test (outside the reference computations, which silence their own)
# fails it: degenerate inputs must produce documented values quietly.
pytestmark = pytest.mark.filterwarnings("error")

SEEDS = range(60)
LABEL_METRICS = [
    hard_label_auc,
    true_positive_rate,
    false_positive_rate,
    f1,
    selection_rate,
    accuracy,
]
GAP_FUNCTIONS = [
    worst_group_auc,
    group_auc_gap,
    tpr_gap,
    fpr_gap,
    equalized_odds_difference,
    demographic_parity_difference,
]
EXPECTED_OVERALL_KEYS = [
    "auc",
    "score_auc",
    "worst_group_auc",
    "group_auc_gap",
    "tpr_gap",
    "fpr_gap",
    "equalized_odds_difference",
    "demographic_parity_difference",
    "f1",
    "accuracy",
    "worst_group_score_auc",
    "group_score_auc_gap",
]


def assert_same(actual: float | np.ndarray, expected: float | np.ndarray) -> None:
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-12, equal_nan=True)


# --------------------------------------------------------------------------------------------------
# Reference computations (scikit-learn, or plain NumPy loops), each silencing its own warnings.


def ref_hard_auc(y: np.ndarray, p: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns when y_pred has a class absent from y_true
        return float(balanced_accuracy_score(y, p))


def ref_tpr(y: np.ndarray, p: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(recall_score(y, p, zero_division=np.nan))


def ref_fpr(y: np.ndarray, p: np.ndarray) -> float:
    tn, fp, _, _ = confusion_matrix(y, p, labels=[0, 1]).ravel()
    return fp / (fp + tn) if fp + tn else np.nan


def ref_f1(y: np.ndarray, p: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(f1_score(y, p, zero_division=np.nan))


def ref_selection_rate(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(p == 1))


def ref_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float(accuracy_score(y, p))


def ref_score_auc(y: np.ndarray, s: np.ndarray) -> float:
    return float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else np.nan


REFERENCE: dict[Callable, Callable] = {
    hard_label_auc: ref_hard_auc,
    true_positive_rate: ref_tpr,
    false_positive_rate: ref_fpr,
    f1: ref_f1,
    selection_rate: ref_selection_rate,
    accuracy: ref_accuracy,
    roc_auc: ref_score_auc,
}


def ref_by_group(reference: Callable, y: np.ndarray, v: np.ndarray, g: np.ndarray, n_groups: int):
    return np.array(
        [reference(y[g == k], v[g == k]) if (g == k).any() else np.nan for k in range(n_groups)]
    )


def ref_nanmin(values: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(np.nanmin(values))


def ref_nanrange(values: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(np.nanmax(values) - np.nanmin(values))


def ref_gaps(y: np.ndarray, p: np.ndarray, g: np.ndarray) -> dict[Callable, float]:
    n_groups = int(g.max()) + 1
    aucs = ref_by_group(ref_hard_auc, y, p, g, n_groups)
    tprs = ref_by_group(ref_tpr, y, p, g, n_groups)
    fprs = ref_by_group(ref_fpr, y, p, g, n_groups)
    rates = ref_by_group(ref_selection_rate, y, p, g, n_groups)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eod = float(np.nanmax([ref_nanrange(tprs), ref_nanrange(fprs)]))
    return {
        worst_group_auc: ref_nanmin(aucs),
        group_auc_gap: ref_nanrange(aucs),
        tpr_gap: ref_nanrange(tprs),
        fpr_gap: ref_nanrange(fprs),
        equalized_odds_difference: eod,
        demographic_parity_difference: ref_nanrange(rates),
    }


def ref_evaluate(y, s, g, names, threshold=0.5) -> dict[str, float]:
    p = (s > threshold).astype(int)
    n_groups = len(names)
    per_group = {
        "auc": ref_by_group(ref_hard_auc, y, p, g, n_groups),
        "score_auc": ref_by_group(ref_score_auc, y, s, g, n_groups),
        "tpr": ref_by_group(ref_tpr, y, p, g, n_groups),
        "fpr": ref_by_group(ref_fpr, y, p, g, n_groups),
        "f1": ref_by_group(ref_f1, y, p, g, n_groups),
    }
    rates = ref_by_group(ref_selection_rate, y, p, g, n_groups)
    tprd, fprd = ref_nanrange(per_group["tpr"]), ref_nanrange(per_group["fpr"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eod = float(np.nanmax([tprd, fprd]))
    out = {
        "auc": ref_hard_auc(y, p),
        "score_auc": ref_score_auc(y, s),
        "worst_group_auc": ref_nanmin(per_group["auc"]),
        "group_auc_gap": ref_nanrange(per_group["auc"]),
        "tpr_gap": tprd,
        "fpr_gap": fprd,
        "equalized_odds_difference": eod,
        "demographic_parity_difference": ref_nanrange(rates),
        "f1": ref_f1(y, p),
        "accuracy": ref_accuracy(y, p),
        "worst_group_score_auc": ref_nanmin(per_group["score_auc"]),
        "group_score_auc_gap": ref_nanrange(per_group["score_auc"]),
    }
    for prefix, values in per_group.items():
        for name, value in zip(names, values):
            out[f"{prefix}/{name}"] = value
    return out


def random_case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Labels, probability-like scores and groups of varied size, balance and tie structure.

    Sizes go down to a single sample; groups are drawn with Dirichlet(0.5) weights (so some are
    tiny or absent); a third of the cases round scores to one decimal (heavy ties, exact 0.5) and
    a third use integer-valued scores.
    """
    rng = np.random.default_rng(seed)
    n = int(rng.choice([1, 2, 3, 5, 12, 40, 150, 700]))
    n_groups = int(rng.integers(1, 6))
    groups = rng.choice(n_groups, size=n, p=rng.dirichlet(np.full(n_groups, 0.5)))
    y = (rng.random(n) < rng.uniform(0.03, 0.97)).astype(np.int64)
    signal = rng.normal(size=n) + rng.uniform(0.0, 2.5) * y
    prob = 1.0 / (1.0 + np.exp(-signal))
    score = [prob, np.round(prob, 1), np.round(signal) / 4 + 0.5][seed % 3]
    return y, score, groups, n_groups


# --------------------------------------------------------------------------------------------------
# Cross-checks against scikit-learn.


@pytest.mark.parametrize("seed", SEEDS)
def test_roc_auc_matches_sklearn(seed: int) -> None:
    y, s, _, _ = random_case(seed)
    assert_same(roc_auc(y, s), ref_score_auc(y, s))


@pytest.mark.parametrize("ties", [False, True])
def test_roc_auc_matches_sklearn_on_a_large_set(ties: bool) -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 50_000)
    s = rng.normal(size=y.size) + 0.7 * y
    if ties:
        s = np.round(s, 1)
    assert_same(roc_auc(y, s), roc_auc_score(y, s))


@pytest.mark.parametrize("metric", LABEL_METRICS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("seed", SEEDS)
def test_label_metrics_match_sklearn(metric: Callable, seed: int) -> None:
    y, s, _, _ = random_case(seed)
    p = (s > 0.5).astype(int)
    assert_same(metric(y, p), REFERENCE[metric](y, p))


@pytest.mark.parametrize("seed", SEEDS)
def test_hard_label_auc_is_roc_auc_of_hard_labels(seed: int) -> None:
    y, s, _, _ = random_case(seed)
    p = (s > 0.5).astype(int)
    if len(np.unique(y)) < 2:  # ROC-AUC is undefined; the hard-label AUC is a recall
        assert np.isnan(roc_auc(y, p))
        assert_same(hard_label_auc(y, p), np.mean(p == y))
    else:
        assert_same(hard_label_auc(y, p), roc_auc_score(y, p))
        assert_same(roc_auc(y, p), hard_label_auc(y, p))


@pytest.mark.parametrize("metric", [*LABEL_METRICS, roc_auc], ids=lambda m: m.__name__)
@pytest.mark.parametrize("seed", SEEDS[::3])
def test_by_group_matches_a_loop_over_sklearn(metric: Callable, seed: int) -> None:
    y, s, g, n_groups = random_case(seed)
    v = s if metric is roc_auc else (s > 0.5).astype(int)
    expected = ref_by_group(REFERENCE[metric], y, v, g, n_groups)
    assert_same(by_group(metric, y, v, g, n_groups=n_groups), expected)


@pytest.mark.parametrize("seed", SEEDS)
def test_group_reductions_match_reference(seed: int) -> None:
    y, s, g, _ = random_case(seed)
    p = (s > 0.5).astype(int)
    expected = ref_gaps(y, p, g)
    for function in GAP_FUNCTIONS:
        assert_same(function(y, p, g), expected[function])


@pytest.mark.parametrize("seed", SEEDS)
def test_evaluate_matches_reference(seed: int) -> None:
    y, s, g, n_groups = random_case(seed)
    names = [f"g{k}" for k in range(n_groups)]
    result = evaluate(y, s, g, names)
    expected = ref_evaluate(y, s, g, names)
    assert list(result) == list(expected)
    for key, value in expected.items():
        assert isinstance(result[key], float), key
        assert_same(result[key], value)


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.75, 2])
@pytest.mark.parametrize("seed", SEEDS[:12])
def test_evaluate_threshold(threshold: float, seed: int) -> None:
    y, s, g, n_groups = random_case(seed)
    names = list(range(n_groups))
    result = evaluate(y, s, g, names, threshold=threshold)
    expected = ref_evaluate(y, s, g, [str(k) for k in names], threshold=threshold)
    assert list(result) == list(expected)
    for key, value in expected.items():
        assert_same(result[key], value)


# --------------------------------------------------------------------------------------------------
# evaluate(): keys, argmax rule, table columns.


def test_evaluate_returns_exactly_the_documented_keys() -> None:
    y = np.array([0, 1, 0, 1, 1, 0])
    s = np.array([0.2, 0.9, 0.6, 0.4, 0.8, 0.1])
    g = np.array([0, 0, 1, 1, 2, 2])
    result = evaluate(y, s, g, ["female", "male", "other"])
    per_group = [
        f"{prefix}/{name}"
        for prefix in ["auc", "score_auc", "tpr", "fpr", "f1"]
        for name in ["female", "male", "other"]
    ]
    assert list(result) == EXPECTED_OVERALL_KEYS + per_group
    assert list(EVALUATE_OVERALL_KEYS) == EXPECTED_OVERALL_KEYS
    assert list(EVALUATE_GROUP_KEYS) == ["auc", "score_auc", "tpr", "fpr", "f1"]


@pytest.mark.parametrize("seed", SEEDS[:20])
def test_evaluate_predictions_are_the_argmax_of_the_two_class_output(seed: int) -> None:
    y, s, g, n_groups = random_case(seed)
    s = np.where(np.arange(s.size) % 4 == 0, 0.5, s)  # plenty of exact ties
    argmax = np.argmax(np.column_stack([1.0 - s, s]), axis=1)  # picks class 0 on a tie
    result = evaluate(y, s, g, list(range(n_groups)))
    assert_same(result["accuracy"], accuracy_score(y, argmax))
    assert_same(result["auc"], ref_hard_auc(y, argmax))


def test_evaluate_tie_at_one_half_predicts_class_zero() -> None:
    result = evaluate([0, 1], [0.5, 0.5], [0, 0], ["all"])
    assert result["tpr/all"] == 0.0
    assert result["fpr/all"] == 0.0
    assert result["accuracy"] == 0.5
    assert result["score_auc"] == 0.5


def test_table_metrics_name_the_papers_columns() -> None:
    assert dict(TABLE_METRICS) == {
        "Overall AUC": "auc",
        "Max-gAUCD": "group_auc_gap",
        "Worst-gAUC": "worst_group_auc",
        "TPRD": "tpr_gap",
    }
    assert set(TABLE_METRICS.values()) <= set(EVALUATE_OVERALL_KEYS)
    with pytest.raises(TypeError):
        TABLE_METRICS["Overall AUC"] = "score_auc"  # type: ignore[index]


# --------------------------------------------------------------------------------------------------
# Properties.

binary = st.integers(0, 1)


@st.composite
def labelled_sets(draw, max_size: int = 40):
    n = draw(st.integers(1, max_size))
    y = draw(arrays(np.int64, n, elements=binary))
    p = draw(arrays(np.int64, n, elements=binary))
    s = draw(arrays(np.int64, n, elements=st.integers(-3, 3)))  # small integers: many ties
    g = draw(arrays(np.int64, n, elements=st.integers(0, 3)))
    return y, p, s, g


@settings(max_examples=150, deadline=None)
@given(data=labelled_sets(), permutation_seed=st.integers(0, 2**32 - 1))
def test_roc_auc_properties(data, permutation_seed: int) -> None:
    y, _, s, _ = data
    auc = roc_auc(y, s)
    if len(np.unique(y)) < 2:
        assert np.isnan(auc)
        return
    assert 0.0 <= auc <= 1.0
    assert_same(roc_auc(1 - y, s), 1.0 - auc)  # swapping the classes
    assert_same(roc_auc(y, -s), 1.0 - auc)  # reversing the order
    assert_same(roc_auc(y, s**3 + 2 * s + 10), auc)  # strictly increasing transform
    order = np.random.default_rng(permutation_seed).permutation(y.size)
    assert_same(roc_auc(y[order], s[order]), auc)
    assert_same(roc_auc(y, np.zeros(y.size)), 0.5)  # all tied


@settings(max_examples=150, deadline=None)
@given(data=labelled_sets())
def test_hard_label_auc_properties(data) -> None:
    y, p, _, _ = data
    auc = hard_label_auc(y, p)
    assert 0.0 <= auc <= 1.0
    assert_same(hard_label_auc(1 - y, 1 - p), auc)  # the two classes play symmetric roles
    assert hard_label_auc(y, y) == 1.0
    if len(np.unique(y)) == 2:
        assert_same(hard_label_auc(y, 1 - p), 1.0 - auc)
        assert_same(auc, (true_positive_rate(y, p) + 1.0 - false_positive_rate(y, p)) / 2)
    else:  # recall of the class present
        assert_same(auc, np.mean(p == y))


@settings(max_examples=150, deadline=None)
@given(data=labelled_sets())
def test_group_reductions_properties(data) -> None:
    y, p, _, g = data
    aucs = by_group(hard_label_auc, y, p, g)
    present = np.bincount(g) > 0
    assert np.isnan(aucs).tolist() == (~present).tolist()
    assert worst_group_auc(y, p, g) == np.min(aucs[present])
    assert all(worst_group_auc(y, p, g) <= value for value in aucs[present])
    assert_same(group_auc_gap(y, p, g), np.max(aucs[present]) - np.min(aucs[present]))
    for function in [group_auc_gap, tpr_gap, fpr_gap, demographic_parity_difference]:
        value = function(y, p, g)
        assert np.isnan(value) or 0.0 <= value <= 1.0
    eod = equalized_odds_difference(y, p, g)
    assert_same(eod, np.nanmax([tpr_gap(y, p, g), fpr_gap(y, p, g), -np.inf]))
    assert_same(group_auc_gap(y, p, np.zeros_like(g)), 0.0)  # a single group has no gap


@settings(max_examples=100, deadline=None)
@given(data=labelled_sets(), seed=st.integers(0, 2**32 - 1))
def test_by_group_is_invariant_to_sample_order_and_follows_relabelling(data, seed: int) -> None:
    y, p, s, g = data
    rng = np.random.default_rng(seed)
    values = by_group(hard_label_auc, y, p, g, n_groups=4)
    order = rng.permutation(y.size)
    assert_same(by_group(hard_label_auc, y[order], p[order], g[order], n_groups=4), values)
    relabel = rng.permutation(4)
    assert_same(by_group(hard_label_auc, y, p, relabel[g], n_groups=4)[relabel], values)
    scores = by_group(roc_auc, y, s, g, n_groups=4)
    assert_same(by_group(roc_auc, y, s, relabel[g], n_groups=4)[relabel], scores)


@settings(max_examples=100, deadline=None)
@given(data=labelled_sets(), threshold=st.sampled_from([None, -1.0, 0.0, 0.5, 2.0]))
def test_evaluate_properties(data, threshold) -> None:
    y, _, s, g = data
    names = ["a", "b", "c", "d"]
    result = evaluate(y, s, g, names, threshold=threshold)
    assert len(result) == len(EXPECTED_OVERALL_KEYS) + 5 * len(names)
    for key, value in result.items():
        assert np.isnan(value) or 0.0 <= value <= 1.0, key
    group_aucs = np.array([result[f"auc/{name}"] for name in names])
    assert result["worst_group_auc"] == np.nanmin(group_aucs)
    assert_same(result["group_auc_gap"], np.nanmax(group_aucs) - np.nanmin(group_aucs))
    eod = result["equalized_odds_difference"]
    assert np.isnan(eod) or (eod >= result["tpr_gap"] or np.isnan(result["tpr_gap"]))
    assert np.isnan(eod) or (eod >= result["fpr_gap"] or np.isnan(result["fpr_gap"]))
    assert_same(result["score_auc"], roc_auc(y, s))


# --------------------------------------------------------------------------------------------------
# Degenerate inputs: documented values, no warnings.


@pytest.mark.parametrize(
    ("metric", "y", "p", "expected"),
    [
        (hard_label_auc, [1, 1, 1, 1], [1, 0, 1, 1], 0.75),  # recall of the positives
        (hard_label_auc, [0, 0, 0], [1, 0, 0], 2 / 3),  # recall of the negatives
        (hard_label_auc, [0, 0], [0, 0], 1.0),
        (true_positive_rate, [0, 0, 0], [1, 0, 1], np.nan),  # no positives
        (true_positive_rate, [1, 1], [1, 0], 0.5),
        (false_positive_rate, [1, 1, 1], [1, 0, 1], np.nan),  # no negatives
        (false_positive_rate, [0, 0], [1, 0], 0.5),
        (f1, [0, 0, 0], [0, 0, 0], np.nan),  # neither true nor predicted positives
        (f1, [0, 0, 0], [1, 0, 0], 0.0),  # a false positive only
        (f1, [1, 1], [0, 0], 0.0),  # a miss only
        (selection_rate, [1], [0], 0.0),
        (accuracy, [1], [0], 0.0),
    ],
)
def test_single_class_label_metrics(metric: Callable, y, p, expected: float) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_same(metric(y, p), expected)
    assert_same(metric(y, p), REFERENCE[metric](np.array(y), np.array(p)))


@pytest.mark.parametrize(("y", "s"), [([1, 1, 1], [0.1, 0.5, 0.9]), ([0], [0.3]), ([0, 0], [1, 1])])
def test_single_class_score_auc_is_nan(y, s) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(roc_auc(y, s))


def test_evaluate_with_single_class_and_absent_groups() -> None:
    # group a: mixed; b: positives only; c: negatives only; d: absent from the set.
    y = np.array([0, 1, 0, 1, 1, 1, 0, 0])
    s = np.array([0.2, 0.7, 0.6, 0.4, 0.9, 0.3, 0.6, 0.8])
    g = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = evaluate(y, s, g, ["a", "b", "c", "d"])
    nan = np.nan
    expected = {  # worked by hand; y_pred = [0, 1, 1, 0, 1, 0, 1, 1]
        "auc": (2 / 4 + 1 / 4) / 2,
        "score_auc": 9 / 16,  # positive-negative pairs ranked correctly
        "worst_group_auc": 0.0,
        "group_auc_gap": 0.5,
        "tpr_gap": 0.0,
        "fpr_gap": 0.5,
        "equalized_odds_difference": 0.5,
        "demographic_parity_difference": 0.5,
        "f1": 4 / 9,
        "accuracy": 3 / 8,
        "worst_group_score_auc": 0.75,
        "group_score_auc_gap": 0.0,
        **{f"auc/{k}": v for k, v in zip("abcd", [0.5, 0.5, 0.0, nan])},
        **{f"score_auc/{k}": v for k, v in zip("abcd", [0.75, nan, nan, nan])},
        **{f"tpr/{k}": v for k, v in zip("abcd", [0.5, 0.5, nan, nan])},
        **{f"fpr/{k}": v for k, v in zip("abcd", [0.5, nan, 1.0, nan])},
        **{f"f1/{k}": v for k, v in zip("abcd", [0.5, 2 / 3, 0.0, nan])},
    }
    assert list(result) == list(expected)
    for key, value in expected.items():
        assert_same(result[key], value)


def test_all_groups_undefined_give_nan_without_warnings() -> None:
    y = np.zeros(6, dtype=int)
    s = np.array([0.1, 0.6, 0.2, 0.7, 0.3, 0.9])
    g = np.array([0, 0, 1, 1, 2, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(tpr_gap(y, s > 0.5, g))
        assert_same(equalized_odds_difference(y, s > 0.5, g), 0.0)  # the FPR gap is defined
        result = evaluate(y, s, g, ["a", "b", "c"])
        assert np.isnan(fpr_gap(np.ones(4), [1, 0, 1, 1], [0, 0, 1, 1]))
        assert_same(equalized_odds_difference(np.ones(4), [1, 0, 1, 1], [0, 0, 1, 1]), 0.5)
    for key in ["score_auc", "tpr_gap", "worst_group_score_auc", "group_score_auc_gap"]:
        assert np.isnan(result[key]), key
    assert result["fpr_gap"] == 0.0 and result["equalized_odds_difference"] == 0.0
    assert result["f1"] == 0.0  # false positives but no positives


def test_by_group_skips_empty_groups() -> None:
    calls = []

    def metric(y, p):
        calls.append(len(y))
        return float(np.mean(y == p))

    values = by_group(metric, [1, 0, 1], [1, 1, 1], [0, 2, 2], n_groups=5)
    assert_same(values, [1.0, np.nan, 0.5, np.nan, np.nan])
    assert calls == [1, 2]
    assert values.dtype == np.float64


# --------------------------------------------------------------------------------------------------
# Invalid inputs: errors with the documented messages.

PAIR_FUNCTIONS = [*LABEL_METRICS, roc_auc]
GROUP_CALLS: dict[str, Callable] = {
    **{function.__name__: function for function in GAP_FUNCTIONS},
    "by_group": lambda y, p, g: by_group(hard_label_auc, y, p, g),
    "evaluate": lambda y, p, g: evaluate(y, p, g, ["a", "b"]),
}


@pytest.mark.parametrize("function", PAIR_FUNCTIONS, ids=lambda m: m.__name__)
def test_empty_input_raises(function: Callable) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(EMPTY_INPUT_ERROR)}$"):
        function([], [])


@pytest.mark.parametrize("name", list(GROUP_CALLS))
def test_empty_input_raises_for_grouped_functions(name: str) -> None:
    with pytest.raises(ValueError, match=re.escape(EMPTY_INPUT_ERROR)):
        GROUP_CALLS[name](np.array([], dtype=int), np.array([], dtype=int), np.array([], dtype=int))


@pytest.mark.parametrize("function", PAIR_FUNCTIONS, ids=lambda m: m.__name__)
def test_mismatched_lengths_raise(function: Callable) -> None:
    with pytest.raises(ValueError, match=re.escape(LENGTH_MISMATCH_ERROR)):
        function([0, 1, 1], [0, 1])


@pytest.mark.parametrize("name", list(GROUP_CALLS))
@pytest.mark.parametrize("lengths", [(3, 3, 2), (3, 2, 3), (2, 3, 3)])
def test_mismatched_lengths_raise_for_grouped_functions(name: str, lengths) -> None:
    y, p, g = ([0, 1, 1][:n] for n in lengths)
    with pytest.raises(ValueError, match=re.escape(LENGTH_MISMATCH_ERROR)):
        GROUP_CALLS[name](y, p, g)


@pytest.mark.parametrize(
    "bad", [[0, 2, 1], [-1, 0, 1], [0.5, 1, 0], [np.nan, 0, 1], ["0", "1", "1"]]
)
@pytest.mark.parametrize("function", PAIR_FUNCTIONS, ids=lambda m: m.__name__)
def test_labels_outside_0_1_raise(function: Callable, bad) -> None:
    with pytest.raises(ValueError, match=re.escape(LABELS_NOT_0_1_ERROR)):
        function(bad, [0, 1, 1])


@pytest.mark.parametrize("bad", [[0, 2, 1], [0.5, 1, 0], [True, False, None]])
@pytest.mark.parametrize("function", LABEL_METRICS, ids=lambda m: m.__name__)
def test_predictions_outside_0_1_raise(function: Callable, bad) -> None:
    with pytest.raises(ValueError, match=re.escape(LABELS_NOT_0_1_ERROR)):
        function([0, 1, 1], bad)


@pytest.mark.parametrize("bad", [[0.1, np.nan, 0.3], [0.1, np.inf, 0.3], ["a", "b", "c"]])
def test_non_finite_scores_raise(bad) -> None:
    with pytest.raises(ValueError, match=re.escape(NON_FINITE_SCORE_ERROR)):
        roc_auc([0, 1, 1], bad)
    with pytest.raises(ValueError, match=re.escape(NON_FINITE_SCORE_ERROR)):
        evaluate([0, 1, 1], bad, [0, 0, 1], ["a", "b"])


def test_two_dimensional_input_raises() -> None:
    with pytest.raises(ValueError, match=re.escape(NOT_ONE_DIMENSIONAL_ERROR)):
        hard_label_auc([[0], [1]], [[0], [1]])
    with pytest.raises(ValueError, match=re.escape(NOT_ONE_DIMENSIONAL_ERROR)):
        evaluate([0, 1], [[0.3, 0.7], [0.6, 0.4]], [0, 0], ["a"])
    with pytest.raises(ValueError, match=re.escape(NOT_ONE_DIMENSIONAL_ERROR)):
        tpr_gap([0, 1], [0, 1], 0)


@pytest.mark.parametrize("bad_groups", [[0, -1, 1], [0, 0.5, 1], ["a", "b", "a"], [0, np.nan, 1]])
@pytest.mark.parametrize("name", list(GROUP_CALLS))
def test_invalid_group_codes_raise(name: str, bad_groups) -> None:
    with pytest.raises(ValueError, match=re.escape(GROUP_CODES_ERROR)):
        GROUP_CALLS[name]([0, 1, 1], [0, 1, 0], bad_groups)


def test_group_codes_beyond_n_groups_or_names_raise() -> None:
    with pytest.raises(ValueError, match=re.escape(GROUP_CODES_ERROR)):
        by_group(f1, [0, 1, 1], [0, 1, 0], [0, 3, 1], n_groups=3)
    with pytest.raises(ValueError, match=re.escape(GROUP_CODES_ERROR)):
        evaluate([0, 1, 1], [0.2, 0.8, 0.4], [0, 2, 1], ["a", "b"])


@pytest.mark.parametrize("n_groups", [0, -2, 2.5, True, "3"])
def test_invalid_n_groups_raise(n_groups) -> None:
    with pytest.raises(ValueError, match=re.escape(N_GROUPS_ERROR)):
        by_group(f1, [0, 1], [0, 1], [0, 0], n_groups=n_groups)


@pytest.mark.parametrize("names", ["ab", [], ["a", "a"], {"a", "b"}, 2, ["1", 1]])
def test_invalid_group_names_raise(names) -> None:
    with pytest.raises(ValueError, match=re.escape(GROUP_NAMES_ERROR)):
        evaluate([0, 1], [0.2, 0.8], [0, 1], names)


@pytest.mark.parametrize("threshold", [np.nan, np.inf, "high", [0.5]])
def test_invalid_threshold_raises(threshold) -> None:
    with pytest.raises(ValueError, match=re.escape(THRESHOLD_ERROR)):
        evaluate([0, 1], [0.2, 0.8], [0, 1], ["a", "b"], threshold=threshold)


# --------------------------------------------------------------------------------------------------
# Accepted input types, and the library's dependencies.


@pytest.mark.parametrize(
    "convert",
    [list, np.bool_, np.float32, np.uint8, object, pd.Series],
    ids=["list", "bool", "float32", "uint8", "object", "series"],
)
def test_label_types_are_interchangeable(convert) -> None:
    y, s, g, _ = random_case(4)
    p = (s > 0.5).astype(np.int64)
    as_type = convert if convert in (list, pd.Series) else (lambda a: a.astype(convert))
    assert_same(hard_label_auc(as_type(y), as_type(p)), hard_label_auc(y, p))
    assert_same(roc_auc(as_type(y), s), roc_auc(y, s))
    assert_same(by_group(f1, as_type(y), as_type(p), g), by_group(f1, y, p, g))
    assert_same(tpr_gap(as_type(y), as_type(p), g), tpr_gap(y, p, g))


@pytest.mark.parametrize(
    "convert",
    [list, np.float64, np.uint8, object, pd.Series],
    ids=["list", "float64", "uint8", "object", "series"],
)
def test_group_and_score_types_are_interchangeable(convert) -> None:
    y, s, g, n_groups = random_case(4)
    names = [f"g{k}" for k in range(n_groups)]
    as_type = convert if convert in (list, pd.Series) else (lambda a: a.astype(convert))
    scores = s if convert is np.uint8 else as_type(s)
    expected = evaluate(y, s, g, names)
    actual = evaluate(y, scores, as_type(g), names)
    assert list(actual) == list(expected)
    for key, value in expected.items():
        assert_same(actual[key], value)


def test_the_library_does_not_import_sklearn() -> None:
    code = "import sys, fairbench.evaluation.metrics; sys.exit('sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
