"""Classification metrics against hand-computed cases and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest

from openclap import metrics

sk_metrics = pytest.importorskip("sklearn.metrics")


def test_accuracy_and_confusion_by_hand() -> None:
    y_true = [0, 0, 1, 2, 2, 2]
    y_pred = [0, 1, 1, 2, 0, 2]
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    cm = metrics.confusion_matrix(y_true, y_pred, num_classes=4)
    assert cm.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    per_class = metrics.per_class_accuracy(y_true, y_pred, num_classes=4)
    assert per_class[:3].tolist() == pytest.approx([0.5, 1.0, 2 / 3])
    assert math.isnan(per_class[3])
    assert metrics.balanced_accuracy(y_true, y_pred, 4) == pytest.approx((0.5 + 1 + 2 / 3) / 3)


def test_classification_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 7, 200)
    scores = rng.normal(size=(200, 7))
    y_pred = scores.argmax(1)
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(sk_metrics.accuracy_score(y_true, y_pred))
    np.testing.assert_array_equal(
        metrics.confusion_matrix(y_true, y_pred, 7),
        sk_metrics.confusion_matrix(y_true, y_pred, labels=range(7)),
    )
    assert metrics.balanced_accuracy(y_true, y_pred, 7) == pytest.approx(
        sk_metrics.balanced_accuracy_score(y_true, y_pred)
    )
    for k in (1, 3, 5):
        expected = sk_metrics.top_k_accuracy_score(y_true, scores, k=k, labels=range(7))
        assert metrics.top_k_accuracy(y_true, scores, k) == pytest.approx(expected)


def test_top_k_ties_count_against() -> None:
    scores = np.ones((3, 4))
    assert metrics.top_k_accuracy([0, 1, 2], scores, k=1) == 0.0
    assert metrics.top_k_accuracy([0, 1, 2], scores, k=4) == 1.0


def test_average_precision_by_hand() -> None:
    # ranked: pos(0.9), neg(0.8), pos(0.7), neg(0.1): AP = 0.5*1 + 0.5*(2/3)
    assert metrics.average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(0.5 + 1 / 3)
    assert math.isnan(metrics.average_precision([0, 0], [0.2, 0.3]))


def test_map_auc_match_sklearn_with_ties() -> None:
    rng = np.random.default_rng(1)
    y_true = rng.random((60, 5)) < 0.3
    y_true[0] = True  # every class has a positive
    y_true[1] = False  # and a negative
    scores = np.round(rng.random((60, 5)), 1)  # coarse scores: many ties
    expected_map = sk_metrics.average_precision_score(y_true, scores, average="macro")
    assert metrics.mean_average_precision(y_true, scores) == pytest.approx(expected_map)
    expected_auc = sk_metrics.roc_auc_score(y_true, scores, average="macro")
    assert metrics.mean_roc_auc(y_true, scores) == pytest.approx(expected_auc)
    for c in range(5):
        assert metrics.average_precision(y_true[:, c], scores[:, c]) == pytest.approx(
            sk_metrics.average_precision_score(y_true[:, c], scores[:, c])
        )


def test_map_skips_classes_without_positives() -> None:
    y_true = np.array([[1, 0], [0, 0], [1, 0]])
    scores = np.array([[0.9, 0.1], [0.5, 0.2], [0.1, 0.3]])
    assert metrics.mean_average_precision(y_true, scores) == pytest.approx(
        metrics.average_precision(y_true[:, 0], scores[:, 0])
    )


def test_d_prime() -> None:
    assert metrics.d_prime(0.5) == pytest.approx(0.0)
    assert metrics.d_prime(0.92) == pytest.approx(math.sqrt(2) * 1.4050715603, rel=1e-6)
    assert metrics.d_prime(1.0) == math.inf


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="length mismatch"):
        metrics.accuracy([0, 1], [0])
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        metrics.confusion_matrix([0, 2], [0, 1], num_classes=2)
    with pytest.raises(ValueError, match="binary"):
        metrics.average_precision([0, 2], [0.1, 0.2])
