"""Classification metrics, implemented once: numpy arrays in, Python floats (or small arrays) out.

Accuracies, AP and AUC are fractions in [0, 1] (reports turn them into percentages). Ties between scores
are resolved pessimistically wherever a rank is involved: a true class that ties with another class
counts as ranked below it, so a model that gives every class the same score earns no credit.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "accuracy",
    "average_precision",
    "balanced_accuracy",
    "confusion_matrix",
    "d_prime",
    "mean_average_precision",
    "mean_roc_auc",
    "per_class_accuracy",
    "roc_auc",
    "top_k_accuracy",
]


def _labels_1d(y: ArrayLike, name: str) -> NDArray[np.int64]:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D class indices, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer) and not np.all(np.equal(np.mod(arr, 1), 0)):
        raise ValueError(f"{name} must hold integer class indices")
    return arr.astype(np.int64)


def _same_length(a: NDArray[np.generic], b: NDArray[np.generic]) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"length mismatch: {a.shape[0]} labels vs {b.shape[0]} predictions")
    if a.shape[0] == 0:
        raise ValueError("metrics need at least one item")


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of items whose predicted class index equals the true one."""
    t, p = _labels_1d(y_true, "y_true"), _labels_1d(y_pred, "y_pred")
    _same_length(t, p)
    return float(np.mean(t == p))


def top_k_accuracy(y_true: ArrayLike, scores: ArrayLike, k: int = 5) -> float:
    """Fraction of items whose true class is among the ``k`` highest scores [N, C] (ties count against)."""
    t = _labels_1d(y_true, "y_true")
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"scores must be [N, C], got shape {s.shape}")
    _same_length(t, s)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    true_scores = s[np.arange(len(t)), t]
    rank = np.sum(s >= true_scores[:, None], axis=1)  # 1 = best; ties ranked pessimistically
    return float(np.mean(rank <= k))


def confusion_matrix(
    y_true: ArrayLike, y_pred: ArrayLike, num_classes: int | None = None
) -> NDArray[np.int64]:
    """Counts [C, C]: row = true class, column = predicted class (as in sklearn)."""
    t, p = _labels_1d(y_true, "y_true"), _labels_1d(y_pred, "y_pred")
    _same_length(t, p)
    n = int(max(t.max(), p.max()) + 1) if num_classes is None else num_classes
    if t.min() < 0 or p.min() < 0 or t.max() >= n or p.max() >= n:
        raise ValueError(
            f"class indices must lie in [0, {n}); got labels in [{t.min()}, {max(t.max(), p.max())}]"
        )
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def per_class_accuracy(
    y_true: ArrayLike, y_pred: ArrayLike, num_classes: int | None = None
) -> NDArray[np.float64]:
    """Recall of each class [C]; NaN for a class with no items."""
    cm = confusion_matrix(y_true, y_pred, num_classes)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)


def balanced_accuracy(y_true: ArrayLike, y_pred: ArrayLike, num_classes: int | None = None) -> float:
    """Mean per-class recall over the classes that have items (sklearn's balanced_accuracy_score)."""
    return float(np.nanmean(per_class_accuracy(y_true, y_pred, num_classes)))


def _binary(y: ArrayLike, name: str) -> NDArray[np.bool_]:
    arr = np.asarray(y)
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name} must be binary (0/1 or bool)")
    return arr.astype(bool)


def average_precision(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Average precision of one binary task, sum over thresholds of (R_n - R_n-1) * P_n.

    Identical to ``sklearn.metrics.average_precision_score``: tied scores form one threshold.
    NaN when there is no positive item.
    """
    t = _binary(y_true, "y_true").ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    _same_length(t, s)
    n_pos = int(t.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, t_sorted = s[order], t[order]
    tp = np.cumsum(t_sorted)
    # the last position of each run of equal scores is one threshold
    last = np.r_[np.nonzero(np.diff(s_sorted))[0], len(s_sorted) - 1]
    tp_at = tp[last].astype(np.float64)
    precision = tp_at / (last + 1)
    recall = tp_at / n_pos
    recall_step = np.diff(np.r_[0.0, recall])
    return float(np.sum(recall_step * precision))


def _check_matrix(y_true: ArrayLike, scores: ArrayLike) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    t = _binary(y_true, "y_true")
    s = np.asarray(scores, dtype=np.float64)
    if t.ndim != 2 or s.shape != t.shape:
        raise ValueError(f"y_true and scores must both be [N, C]; got {t.shape} and {s.shape}")
    return t, s


def mean_average_precision(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Macro mAP over classes [N, C] (sklearn ``average_precision_score(average="macro")``).

    Classes without any positive item are left out of the mean (sklearn would count them as 0 with a
    warning); NaN when no class has a positive.
    """
    t, s = _check_matrix(y_true, scores)
    aps = [average_precision(t[:, c], s[:, c]) for c in range(t.shape[1]) if t[:, c].any()]
    return float(np.mean(aps)) if aps else float("nan")


def _average_ranks(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based ranks with ties given their average rank (scipy.stats.rankdata 'average')."""
    order = np.argsort(values, kind="mergesort")
    sorted_vals = values[order]
    starts = np.r_[0, np.nonzero(np.diff(sorted_vals))[0] + 1]
    ends = np.r_[starts[1:], len(values)]
    avg = (starts + ends + 1) / 2.0  # mean of the 1-based ranks start+1 .. end
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def roc_auc(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve of one binary task (Mann-Whitney U, ties count half).

    NaN when only one class is present.
    """
    t = _binary(y_true, "y_true").ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    _same_length(t, s)
    n_pos, n_neg = int(t.sum()), int((~t).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(s)
    return float((ranks[t].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def mean_roc_auc(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Macro ROC AUC over the classes [N, C] that have both positives and negatives."""
    t, s = _check_matrix(y_true, scores)
    aucs = [roc_auc(t[:, c], s[:, c]) for c in range(t.shape[1]) if 0 < t[:, c].sum() < t.shape[0]]
    return float(np.mean(aucs)) if aucs else float("nan")


def d_prime(auc: float) -> float:
    """Sensitivity index from an AUC: sqrt(2) * inverse normal CDF(auc) (as reported for AudioSet)."""
    if not 0.0 < auc < 1.0:
        return float("inf") if auc >= 1.0 else float("-inf")
    return float(np.sqrt(2.0) * NormalDist().inv_cdf(auc))
