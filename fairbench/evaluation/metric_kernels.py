"""Input validation and vectorised kernels behind :mod:`fairbench.evaluation.metrics`.

Everything here works on validated NumPy arrays: labels and predictions as ``int64`` arrays of 0/1,
scores as finite ``float64`` arrays, groups as ``int64`` codes ``0 .. n_groups - 1``. Every ratio
whose denominator is zero is NaN, produced without a floating-point warning.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Set
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

# User-facing error messages. Each raised message starts with one of these; details follow it.
EMPTY_INPUT_ERROR = "Metrics need at least one sample, but the inputs are empty."
LENGTH_MISMATCH_ERROR = "All inputs must have the same number of samples."
NOT_ONE_DIMENSIONAL_ERROR = "Inputs must be one-dimensional arrays."
LABELS_NOT_0_1_ERROR = "Labels and predictions must contain only the values 0 and 1."
NON_FINITE_SCORE_ERROR = "Scores must be finite real numbers."
GROUP_CODES_ERROR = "Group codes must be integers in 0 .. n_groups - 1."
N_GROUPS_ERROR = "n_groups must be a positive integer."
GROUP_NAMES_ERROR = "group_names must be a non-empty sequence of distinct names, one per group."
THRESHOLD_ERROR = "threshold must be a finite real number."

# Column order of the confusion counts: index = 2 * y_true + y_pred.
TN, FP, FN, TP = 0, 1, 2, 3

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def as_1d(values: ArrayLike, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D array; object arrays of numbers become ``float64``."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{NOT_ONE_DIMENSIONAL_ERROR} `{name}` has shape {array.shape}.")
    if array.dtype.kind == "O":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            pass  # left as object; the caller's dtype check rejects it
    return array


def check_same_length(**arrays: np.ndarray) -> int:
    """Return the common length of ``arrays``; raise on a mismatch or on empty inputs."""
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"`{name}` has {length}" for name, length in lengths.items())
        raise ValueError(f"{LENGTH_MISMATCH_ERROR} {detail}.")
    n_samples = next(iter(lengths.values()))
    if n_samples == 0:
        raise ValueError(EMPTY_INPUT_ERROR)
    return n_samples


def check_labels(values: ArrayLike, name: str) -> IntArray:
    """Return ``values`` as an ``int64`` array of 0/1 (booleans, integers and floats accepted)."""
    array = as_1d(values, name)
    if array.dtype.kind == "b":
        return array.astype(np.int64)
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{LABELS_NOT_0_1_ERROR} `{name}` has dtype {array.dtype}.")
    is_binary = (array == 0) | (array == 1)
    if not is_binary.all():
        offending = np.unique(array[~is_binary])[:5].tolist()
        raise ValueError(f"{LABELS_NOT_0_1_ERROR} `{name}` contains {offending}.")
    return array.astype(np.int64)


def check_scores(values: ArrayLike, name: str) -> FloatArray:
    """Return ``values`` as a finite ``float64`` array."""
    array = as_1d(values, name)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{NON_FINITE_SCORE_ERROR} `{name}` has dtype {array.dtype}.")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{NON_FINITE_SCORE_ERROR} `{name}` contains NaN or infinite values.")
    return array


def check_n_groups(n_groups: Any) -> int:
    """Return ``n_groups`` as a positive ``int``."""
    if isinstance(n_groups, bool):
        raise ValueError(f"{N_GROUPS_ERROR} Got {n_groups!r}.")
    try:
        value = operator.index(n_groups)
    except TypeError:
        raise ValueError(f"{N_GROUPS_ERROR} Got {n_groups!r}.") from None
    if value < 1:
        raise ValueError(f"{N_GROUPS_ERROR} Got {value}.")
    return value


def check_groups(values: ArrayLike, n_groups: int | None) -> tuple[IntArray, int]:
    """Return the group codes as ``int64`` and the number of groups.

    Integer-valued floats are accepted. ``n_groups=None`` means ``max(code) + 1``.
    """
    array = as_1d(values, "groups")
    if array.dtype.kind == "f":
        if not (np.isfinite(array).all() and (array == np.round(array)).all()):
            raise ValueError(f"{GROUP_CODES_ERROR} `groups` contains non-integer values.")
    elif array.dtype.kind not in "biu":
        raise ValueError(f"{GROUP_CODES_ERROR} `groups` has dtype {array.dtype}.")
    codes = array.astype(np.int64)
    if codes.size and codes.min() < 0:
        raise ValueError(f"{GROUP_CODES_ERROR} `groups` contains {int(codes.min())}.")
    if n_groups is None:
        return codes, int(codes.max()) + 1 if codes.size else 1
    n_groups = check_n_groups(n_groups)
    if codes.size and codes.max() >= n_groups:
        raise ValueError(
            f"{GROUP_CODES_ERROR} `groups` contains {int(codes.max())} but n_groups is {n_groups}."
        )
    return codes, n_groups


def check_group_names(group_names: Any) -> list[str]:
    """Return the names as distinct strings; a bare string or an unordered set is rejected."""
    if isinstance(group_names, (str, bytes, Set)) or not isinstance(group_names, Iterable):
        raise ValueError(f"{GROUP_NAMES_ERROR} Got {type(group_names).__name__}.")
    names = [str(name) for name in group_names]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"{GROUP_NAMES_ERROR} Got {names}.")
    return names


def check_threshold(threshold: Any) -> float:
    """Return ``threshold`` as a finite ``float``."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"{THRESHOLD_ERROR} Got {threshold!r}.") from None
    if not math.isfinite(value):
        raise ValueError(f"{THRESHOLD_ERROR} Got {value}.")
    return value


# --------------------------------------------------------------------------------------------------
# Kernels on confusion counts. ``counts[..., k]`` holds the number of samples with
# ``2 * y_true + y_pred == k``, i.e. the columns are TN, FP, FN, TP.


def confusion_counts(
    y_true: IntArray, y_pred: IntArray, groups: IntArray, n_groups: int
) -> IntArray:
    """Per-group confusion counts, shape ``(n_groups, 4)`` with columns TN, FP, FN, TP."""
    cell = 4 * groups + 2 * y_true + y_pred
    return np.bincount(cell, minlength=4 * n_groups).reshape(n_groups, 4)


def overall_counts(y_true: IntArray, y_pred: IntArray) -> IntArray:
    """Confusion counts of the whole set, shape ``(4,)`` with entries TN, FP, FN, TP."""
    return np.bincount(2 * y_true + y_pred, minlength=4)


def safe_ratio(numerator: ArrayLike, denominator: ArrayLike) -> FloatArray:
    """Elementwise ``numerator / denominator``; NaN where the denominator is 0, without warnings."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast_shapes(numerator.shape, denominator.shape), np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def tpr_from_counts(counts: IntArray) -> FloatArray:
    return safe_ratio(counts[..., TP], counts[..., TP] + counts[..., FN])


def fpr_from_counts(counts: IntArray) -> FloatArray:
    return safe_ratio(counts[..., FP], counts[..., FP] + counts[..., TN])


def tnr_from_counts(counts: IntArray) -> FloatArray:
    return safe_ratio(counts[..., TN], counts[..., FP] + counts[..., TN])


def hard_label_auc_from_counts(counts: IntArray) -> FloatArray:
    """Mean of TPR and TNR over the classes present; NaN only where there are no samples."""
    tpr = tpr_from_counts(counts)
    tnr = tnr_from_counts(counts)
    n_present = (~np.isnan(tpr)).astype(np.int64) + (~np.isnan(tnr)).astype(np.int64)
    return safe_ratio(np.nan_to_num(tpr) + np.nan_to_num(tnr), n_present)


def f1_from_counts(counts: IntArray) -> FloatArray:
    tp = counts[..., TP]
    return safe_ratio(2 * tp, 2 * tp + counts[..., FP] + counts[..., FN])


def selection_rate_from_counts(counts: IntArray) -> FloatArray:
    return safe_ratio(counts[..., FP] + counts[..., TP], counts.sum(axis=-1))


def accuracy_from_counts(counts: IntArray) -> FloatArray:
    return safe_ratio(counts[..., TN] + counts[..., TP], counts.sum(axis=-1))


# --------------------------------------------------------------------------------------------------
# Rank-based score AUC.


def auc_of_sorted(sorted_scores: FloatArray, sorted_labels: IntArray) -> float:
    """Mann-Whitney AUC of scores already sorted ascending; NaN unless both classes are present.

    With tie blocks ``b`` (maximal runs of equal scores) holding ``p_b`` positives and ``q_b``
    negatives, and ``Q_b`` the negatives in earlier blocks::

        AUC = sum_b p_b * (Q_b + q_b / 2) / (P * N)

    computed in exact integer arithmetic up to the final division.
    """
    n_samples = sorted_labels.size
    n_pos = int(sorted_labels.sum())
    n_neg = n_samples - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    pos_per_block = np.add.reduceat(sorted_labels, starts)
    neg_per_block = np.diff(np.r_[starts, n_samples]) - pos_per_block
    neg_before = np.cumsum(neg_per_block) - neg_per_block
    twice_u = int(np.dot(pos_per_block, 2 * neg_before + neg_per_block))
    return twice_u / (2 * n_pos * n_neg)


def score_auc_by_group(
    y_true: IntArray, y_score: FloatArray, groups: IntArray, n_groups: int
) -> FloatArray:
    """Per-group rank AUC from a single global sort; NaN for groups without both classes."""
    order = np.argsort(y_score, kind="stable")
    sorted_scores, sorted_labels, sorted_groups = y_score[order], y_true[order], groups[order]
    out = np.full(n_groups, np.nan)
    for group in range(n_groups):
        members = sorted_groups == group
        out[group] = auc_of_sorted(sorted_scores[members], sorted_labels[members])
    return out


def score_auc(y_true: IntArray, y_score: FloatArray) -> float:
    order = np.argsort(y_score, kind="stable")
    return auc_of_sorted(y_score[order], y_true[order])


# --------------------------------------------------------------------------------------------------
# NaN-ignoring reductions over groups (no RuntimeWarning on all-NaN input).


def nan_min(values: FloatArray) -> float:
    defined = values[~np.isnan(values)]
    return float(defined.min()) if defined.size else math.nan


def nan_range(values: FloatArray) -> float:
    defined = values[~np.isnan(values)]
    return float(defined.max() - defined.min()) if defined.size else math.nan


def nan_max(values: FloatArray) -> float:
    defined = values[~np.isnan(values)]
    return float(defined.max()) if defined.size else math.nan
