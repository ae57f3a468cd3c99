"""Classification and group-fairness metrics, as reported by Zeng et al. (NeurIPS 2024).

The paper's "AUC" is the ROC-AUC of **hard** predicted labels, which equals balanced accuracy,
``(TPR + TNR) / 2``; :func:`hard_label_auc` computes it and :func:`roc_auc` computes the usual
score-based ROC-AUC next to it. Per-group values come from :func:`by_group`; the gap and worst-group
functions reduce them; :func:`evaluate` returns everything logged after an epoch as one flat dict.

Conventions
-----------
* ``y_true`` and ``y_pred`` hold the labels 0 and 1 (booleans, integers or floats); ``y_score``
  holds finite real numbers, larger meaning "more likely class 1"; ``groups`` holds integer codes
  ``0 .. n_groups - 1``.
* Empty inputs, inputs of different lengths, labels other than 0/1, non-finite scores and bad group
  codes raise :class:`ValueError` whose message starts with one of the ``*_ERROR`` constants below.
* A metric that is undefined on the given samples (for example the TPR of a group without
  positives) is NaN, never an exception or a warning; each function's docstring says when.
  Worst-group and gap functions ignore NaN groups and are NaN only when every group is NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from fairbench.evaluation import metric_kernels as _impl
from fairbench.evaluation.metric_kernels import (
    EMPTY_INPUT_ERROR,
    GROUP_CODES_ERROR,
    GROUP_NAMES_ERROR,
    LABELS_NOT_0_1_ERROR,
    LENGTH_MISMATCH_ERROR,
    N_GROUPS_ERROR,
    NON_FINITE_SCORE_ERROR,
    NOT_ONE_DIMENSIONAL_ERROR,
    THRESHOLD_ERROR,
)

__all__ = [
    "EMPTY_INPUT_ERROR",
    "EVALUATE_GROUP_KEYS",
    "EVALUATE_OVERALL_KEYS",
    "GROUP_CODES_ERROR",
    "GROUP_NAMES_ERROR",
    "LABELS_NOT_0_1_ERROR",
    "LENGTH_MISMATCH_ERROR",
    "NON_FINITE_SCORE_ERROR",
    "NOT_ONE_DIMENSIONAL_ERROR",
    "N_GROUPS_ERROR",
    "TABLE_METRICS",
    "THRESHOLD_ERROR",
    "accuracy",
    "by_group",
    "demographic_parity_difference",
    "equalized_odds_difference",
    "evaluate",
    "f1",
    "false_positive_rate",
    "fpr_gap",
    "group_auc_gap",
    "hard_label_auc",
    "roc_auc",
    "selection_rate",
    "tpr_gap",
    "true_positive_rate",
    "worst_group_auc",
]

#: The paper's table columns and the :func:`evaluate` key each one reports (read-only mapping).
TABLE_METRICS: MappingProxyType[str, str] = MappingProxyType(
    {
        "Overall AUC": "auc",
        "Max-gAUCD": "group_auc_gap",
        "Worst-gAUC": "worst_group_auc",
        "TPRD": "tpr_gap",
    }
)

#: Keys of :func:`evaluate` that describe the whole set, in the order they are returned.
EVALUATE_OVERALL_KEYS: tuple[str, ...] = (
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
)

#: Per-group key prefixes of :func:`evaluate`; the keys are ``f"{prefix}/{group_name}"``.
EVALUATE_GROUP_KEYS: tuple[str, ...] = ("auc", "score_auc", "tpr", "fpr", "f1")


def _labels_and_predictions(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y_true_arr = _impl.check_labels(y_true, "y_true")
    y_pred_arr = _impl.check_labels(y_pred, "y_pred")
    _impl.check_same_length(y_true=y_true_arr, y_pred=y_pred_arr)
    return y_true_arr, y_pred_arr


def _counts(y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
    return _impl.overall_counts(*_labels_and_predictions(y_true, y_pred))


def _group_counts(y_true: ArrayLike, y_pred: ArrayLike, groups: ArrayLike) -> np.ndarray:
    y_true_arr, y_pred_arr = _labels_and_predictions(y_true, y_pred)
    codes, n_groups = _impl.check_groups(groups, None)
    _impl.check_same_length(y_true=y_true_arr, y_pred=y_pred_arr, groups=codes)
    return _impl.confusion_counts(y_true_arr, y_pred_arr, codes, n_groups)


# --------------------------------------------------------------------------------------------------
# Metrics of one set of samples.


def hard_label_auc(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    r"""ROC-AUC of hard predicted labels, which equals balanced accuracy.

    A hard prediction has a ROC curve with a single interior point ``(FPR, TPR)``; the area under
    the two segments joining it to ``(0, 0)`` and ``(1, 1)`` is

    .. math:: \mathrm{AUC} = \frac{\mathrm{TPR} + \mathrm{TNR}}{2}
              = \frac{1}{2}\left(\frac{TP}{TP + FN} + \frac{TN}{TN + FP}\right).

    This is the "AUC" of the paper's tables.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, 0 or 1.
    y_pred : array-like of shape (n_samples,)
        Predicted labels, 0 or 1.

    Returns
    -------
    float
        The hard-label AUC in ``[0, 1]``. When ``y_true`` holds a single class, the mean runs over
        the classes present, so the value is the recall of that class (``TPR`` if all samples are
        positive, ``TNR`` if all are negative), matching
        :func:`sklearn.metrics.balanced_accuracy_score`.
    """
    return float(_impl.hard_label_auc_from_counts(_counts(y_true, y_pred)))


def roc_auc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    r"""Score-based ROC-AUC, computed from ranks (Mann-Whitney U) with ties counted as one half.

    .. math:: \mathrm{AUC} = \frac{1}{PN} \sum_{i: y_i = 1} \sum_{j: y_j = 0}
              \left( [s_i > s_j] + \tfrac{1}{2} [s_i = s_j] \right)
              = \frac{R_+ - P(P + 1)/2}{PN},

    where ``P`` and ``N`` count positives and negatives and ``R_+`` is the sum of the positives'
    average ranks (tied scores share the mean of their ranks). One sort, ``O(n log n)``; the sum is
    exact in integers up to the final division.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, 0 or 1.
    y_score : array-like of shape (n_samples,)
        Finite scores; only their order matters.

    Returns
    -------
    float
        The ROC-AUC in ``[0, 1]``, or NaN when ``y_true`` holds a single class (no positive-negative
        pair exists).
    """
    y_true_arr = _impl.check_labels(y_true, "y_true")
    y_score_arr = _impl.check_scores(y_score, "y_score")
    _impl.check_same_length(y_true=y_true_arr, y_score=y_score_arr)
    return _impl.score_auc(y_true_arr, y_score_arr)


def true_positive_rate(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """True positive rate (recall, sensitivity): ``TPR = TP / (TP + FN)``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels, 0 or 1.

    Returns
    -------
    float
        The TPR, or NaN when ``y_true`` has no positives.
    """
    return float(_impl.tpr_from_counts(_counts(y_true, y_pred)))


def false_positive_rate(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """False positive rate: ``FPR = FP / (FP + TN)``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels, 0 or 1.

    Returns
    -------
    float
        The FPR, or NaN when ``y_true`` has no negatives.
    """
    return float(_impl.fpr_from_counts(_counts(y_true, y_pred)))


def selection_rate(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of samples predicted positive: ``(TP + FP) / n``.

    ``y_true`` does not enter the value; it is taken (and validated) so that every metric of this
    module has the signature ``metric(y_true, y_pred)`` and can be passed to :func:`by_group`.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels, 0 or 1.

    Returns
    -------
    float
        The selection rate in ``[0, 1]``; always defined for non-empty inputs.
    """
    return float(_impl.selection_rate_from_counts(_counts(y_true, y_pred)))


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of correct predictions: ``(TP + TN) / n``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels, 0 or 1.

    Returns
    -------
    float
        The accuracy in ``[0, 1]``; always defined for non-empty inputs.
    """
    return float(_impl.accuracy_from_counts(_counts(y_true, y_pred)))


def f1(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """F1 score of the positive class: ``F1 = 2 TP / (2 TP + FP + FN)``.

    This is the harmonic mean of precision and recall whenever both are defined, and stays defined
    when only one of them is (a set without predicted positives but with true positives scores 0).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels, 0 or 1.

    Returns
    -------
    float
        The F1 score, or NaN when there are neither true nor predicted positives (``TP = FP = FN
        = 0``), as :func:`sklearn.metrics.f1_score` with ``zero_division=np.nan``.
    """
    return float(_impl.f1_from_counts(_counts(y_true, y_pred)))


# --------------------------------------------------------------------------------------------------
# Per-group values and their reductions.


def by_group(
    metric: Callable[[np.ndarray, np.ndarray], float],
    y_true: ArrayLike,
    y_pred_or_score: ArrayLike,
    groups: ArrayLike,
    *,
    n_groups: int | None = None,
) -> np.ndarray:
    r"""Evaluate ``metric`` on the samples of each group.

    .. math:: v_g = \mathrm{metric}(y_{\mathrm{true}}[G = g],\; y[G = g]),
              \quad g = 0, \dots, n_{\mathrm{groups}} - 1.

    Parameters
    ----------
    metric : callable
        ``metric(y_true, y)`` returning a float, such as :func:`hard_label_auc` or :func:`roc_auc`.
    y_true : array-like of shape (n_samples,)
        True labels, 0 or 1.
    y_pred_or_score : array-like of shape (n_samples,)
        Predicted labels or scores, whatever ``metric`` takes; validated by ``metric``.
    groups : array-like of shape (n_samples,)
        Integer group codes ``0 .. n_groups - 1``.
    n_groups : int, optional
        Number of groups; defaults to ``max(groups) + 1``. Pass it so that groups absent from this
        set still get an entry.

    Returns
    -------
    numpy.ndarray of shape (n_groups,)
        ``float64`` values; NaN for a group with no samples (``metric`` is not called on it) and
        wherever ``metric`` itself returns NaN.
    """
    y_true_arr = _impl.check_labels(y_true, "y_true")
    values = _impl.as_1d(y_pred_or_score, "y_pred_or_score")
    codes, n_groups = _impl.check_groups(groups, n_groups)
    _impl.check_same_length(y_true=y_true_arr, y_pred_or_score=values, groups=codes)
    out = np.full(n_groups, np.nan)
    for group in range(n_groups):
        members = codes == group
        if members.any():
            out[group] = float(metric(y_true_arr[members], values[members]))
    return out


def worst_group_auc(y_true: ArrayLike, y_pred: ArrayLike, groups: ArrayLike) -> float:
    """Lowest per-group hard-label AUC ("Worst-gAUC"): ``min_g AUC_g``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels, 0 or 1.
    groups : array-like of shape (n_samples,)
        Integer group codes.

    Returns
    -------
    float
        The minimum over groups of :func:`hard_label_auc`. Groups without samples are ignored;
        a group holding one class contributes that class's recall.
    """
    return _impl.nan_min(_impl.hard_label_auc_from_counts(_group_counts(y_true, y_pred, groups)))


def group_auc_gap(y_true: ArrayLike, y_pred: ArrayLike, groups: ArrayLike) -> float:
    """Spread of the per-group hard-label AUC ("Max-gAUCD"): ``max_g AUC_g - min_g AUC_g``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels, 0 or 1.
    groups : array-like of shape (n_samples,)
        Integer group codes.

    Returns
    -------
    float
        The gap, ``>= 0``. Groups without samples are ignored; with a single group it is 0.
    """
    return _impl.nan_range(_impl.hard_label_auc_from_counts(_group_counts(y_true, y_pred, groups)))


def tpr_gap(y_true: ArrayLike, y_pred: ArrayLike, groups: ArrayLike) -> float:
    """Spread of the per-group true positive rate ("TPRD"): ``max_g TPR_g - min_g TPR_g``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels, 0 or 1.
    groups : array-like of shape (n_samples,)
        Integer group codes.

    Returns
    -------
    float
        The gap, ``>= 0``, over the groups that have positives; NaN when no group has any.
    """
    return _impl.nan_range(_impl.tpr_from_counts(_group_counts(y_true, y_pred, groups)))


def fpr_gap(y_true: ArrayLike, y_pred: ArrayLike, groups: ArrayLike) -> float:
    """Spread of the per-group false positive rate: ``max_g FPR_g - min_g FPR_g``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels, 0 or 1.
    groups : array-like of shape (n_samples,)
        Integer group codes.

    Returns
    -------
    float
        The gap, ``>= 0``, over the groups that have negatives; NaN when no group has any.
    """
    return _impl.nan_range(_impl.fpr_from_counts(_group_counts(y_true, y_pred, groups)))


def equalized_odds_difference(y_true: ArrayLike, y_pred: ArrayLike, groups: ArrayLike) -> float:
    r"""Equalized-odds difference, as in fairlearn: the larger of the TPR gap and the FPR gap.

    .. math:: \mathrm{EOD} = \max\left(\max_g \mathrm{TPR}_g - \min_g \mathrm{TPR}_g,\;
              \max_g \mathrm{FPR}_g - \min_g \mathrm{FPR}_g\right).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels, 0 or 1.
    groups : array-like of shape (n_samples,)
        Integer group codes.

    Returns
    -------
    float
        The difference, ``>= 0``. A gap that is NaN (see :func:`tpr_gap`, :func:`fpr_gap`) is
        ignored. Every non-empty group defines its TPR or its FPR, so at least one gap, and hence
        the result, is always defined.
    """
    counts = _group_counts(y_true, y_pred, groups)
    tpr_spread = _impl.nan_range(_impl.tpr_from_counts(counts))
    fpr_spread = _impl.nan_range(_impl.fpr_from_counts(counts))
    return _impl.nan_max(np.array([tpr_spread, fpr_spread]))


def demographic_parity_difference(y_true: ArrayLike, y_pred: ArrayLike, groups: ArrayLike) -> float:
    r"""Demographic-parity difference, as in fairlearn: spread of the per-group selection rate.

    .. math:: \mathrm{DPD} = \max_g P(\hat y = 1 \mid G = g)
              - \min_g P(\hat y = 1 \mid G = g).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels, 0 or 1 (``y_true`` is validated but does not enter the value).
    groups : array-like of shape (n_samples,)
        Integer group codes.

    Returns
    -------
    float
        The difference, ``>= 0``; groups without samples are ignored.
    """
    return _impl.nan_range(_impl.selection_rate_from_counts(_group_counts(y_true, y_pred, groups)))


# --------------------------------------------------------------------------------------------------
# Everything logged after an epoch.


def evaluate(
    y_true: ArrayLike,
    y_score: ArrayLike,
    groups: ArrayLike,
    group_names: Sequence[Any],
    *,
    threshold: float | None = None,
) -> dict[str, float]:
    """All overall and per-group metrics of one set of predictions, as a flat dict.

    Predicted labels are ``y_pred = [y_score > t]`` with ``t = 0.5`` by default. With
    ``y_score = p(class 1)`` of a two-class output this is exactly the reference's ``argmax``,
    which picks class 0 on the tie ``p = 0.5`` (the comparison is strict).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, 0 or 1.
    y_score : array-like of shape (n_samples,)
        Predicted probability of class 1 (any finite score works for the score-based AUCs).
    groups : array-like of shape (n_samples,)
        Integer group codes ``0 .. len(group_names) - 1``.
    group_names : sequence
        One distinct name per group code, used in the per-group keys (converted with ``str``).
    threshold : float, optional
        Decision threshold ``t`` on ``y_score``; ``None`` means 0.5 (the argmax rule).

    Returns
    -------
    dict of str to float
        The keys of :data:`EVALUATE_OVERALL_KEYS`, in that order:

        * ``auc``: :func:`hard_label_auc` of the whole set;
        * ``score_auc``: :func:`roc_auc` of the whole set;
        * ``worst_group_auc``, ``group_auc_gap``: min and max - min of the per-group hard-label AUC;
        * ``tpr_gap``, ``fpr_gap``, ``equalized_odds_difference``,
          ``demographic_parity_difference``: as the functions of those names;
        * ``f1``, ``accuracy``: of the whole set;
        * ``worst_group_score_auc``, ``group_score_auc_gap``: min and max - min of the per-group
          :func:`roc_auc`;

        followed, for each prefix of :data:`EVALUATE_GROUP_KEYS` and each group name ``g``, by
        ``auc/<g>``, ``score_auc/<g>``, ``tpr/<g>``, ``fpr/<g>``, ``f1/<g>``. Undefined values are
        NaN under the conventions of the individual functions; a group absent from the set has NaN
        everywhere and is ignored by the worst-group and gap values.
    """
    names = _impl.check_group_names(group_names)
    cut = 0.5 if threshold is None else _impl.check_threshold(threshold)
    y_true_arr = _impl.check_labels(y_true, "y_true")
    y_score_arr = _impl.check_scores(y_score, "y_score")
    codes, n_groups = _impl.check_groups(groups, len(names))
    _impl.check_same_length(y_true=y_true_arr, y_score=y_score_arr, groups=codes)
    y_pred = (y_score_arr > cut).astype(np.int64)

    counts = _impl.confusion_counts(y_true_arr, y_pred, codes, n_groups)
    total = counts.sum(axis=0)
    group_auc = _impl.hard_label_auc_from_counts(counts)
    group_tpr = _impl.tpr_from_counts(counts)
    group_fpr = _impl.fpr_from_counts(counts)
    group_f1 = _impl.f1_from_counts(counts)
    group_score_auc = _impl.score_auc_by_group(y_true_arr, y_score_arr, codes, n_groups)
    tpr_spread = _impl.nan_range(group_tpr)
    fpr_spread = _impl.nan_range(group_fpr)

    result: dict[str, float] = {
        "auc": float(_impl.hard_label_auc_from_counts(total)),
        "score_auc": _impl.score_auc(y_true_arr, y_score_arr),
        "worst_group_auc": _impl.nan_min(group_auc),
        "group_auc_gap": _impl.nan_range(group_auc),
        "tpr_gap": tpr_spread,
        "fpr_gap": fpr_spread,
        "equalized_odds_difference": _impl.nan_max(np.array([tpr_spread, fpr_spread])),
        "demographic_parity_difference": _impl.nan_range(_impl.selection_rate_from_counts(counts)),
        "f1": float(_impl.f1_from_counts(total)),
        "accuracy": float(_impl.accuracy_from_counts(total)),
        "worst_group_score_auc": _impl.nan_min(group_score_auc),
        "group_score_auc_gap": _impl.nan_range(group_score_auc),
    }
    per_group = {
        "auc": group_auc,
        "score_auc": group_score_auc,
        "tpr": group_tpr,
        "fpr": group_fpr,
        "f1": group_f1,
    }
    for prefix in EVALUATE_GROUP_KEYS:
        for name, value in zip(names, per_group[prefix]):
            result[f"{prefix}/{name}"] = float(value)
    return result

