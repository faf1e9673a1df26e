"""classification_report and confusion_matrix against hand computations.

The 3-class example (labels a, b, c; class c is never predicted):

    true      = 0 0 0 1 1 2 2 2 2 1
    predicted = 0 1 0 1 0 0 1 1 0 1

confusion (rows true, columns predicted) = [[2, 1, 0], [1, 2, 0], [2, 2, 0]]
accuracy  = (2 + 2 + 0) / 10 = 0.4
precision = a 2/5, b 2/5, c 0 (never predicted: zero_division=0)
recall    = a 2/3, b 2/3, c 0/4
F1        = a 2(2/5)(2/3)/(2/5 + 2/3) = (8/15)/(16/15) = 1/2, b 1/2, c 0
macro-F1  = (1/2 + 1/2 + 0) / 3 = 1/3
support   = a 3, b 3, c 4
"""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from seqlab.tasks.sentiment.metrics import classification_report, confusion_matrix

TRUE = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 1])
PREDICTED = torch.tensor([0, 1, 0, 1, 0, 0, 1, 1, 0, 1])
LABELS = ["a", "b", "c"]


def test_confusion_matrix_counts_by_hand():
    expected = torch.tensor([[2, 1, 0], [1, 2, 0], [2, 2, 0]])
    assert_close(confusion_matrix(TRUE, PREDICTED, 3), expected)


def test_confusion_matrix_is_not_transposed():
    # One example of class 0 predicted as 2: the count sits at [true=0, predicted=2].
    matrix = confusion_matrix(torch.tensor([0]), torch.tensor([2]), 3)
    expected = torch.zeros(3, 3, dtype=torch.long)
    expected[0, 2] = 1
    assert_close(matrix, expected)


def test_report_matches_hand_computation():
    report = classification_report(TRUE, PREDICTED, LABELS)
    assert report["accuracy"] == pytest.approx(0.4, abs=1e-12)
    assert report["macro_f1"] == pytest.approx(1 / 3, abs=1e-12)
    expected = {
        "a": {"precision": 2 / 5, "recall": 2 / 3, "f1": 0.5, "support": 3},
        "b": {"precision": 2 / 5, "recall": 2 / 3, "f1": 0.5, "support": 3},
        "c": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 4},
    }
    assert list(report["per_class"]) == LABELS
    for label, values in expected.items():
        got = report["per_class"][label]
        assert set(got) == set(values)
        for name, value in values.items():
            assert got[name] == pytest.approx(value, abs=1e-12), (label, name)
        assert isinstance(got["support"], int)
    assert report["confusion_matrix"] == {
        "labels": LABELS,
        "rows_true_columns_predicted": [[2, 1, 0], [1, 2, 0], [2, 2, 0]],
    }


def test_class_absent_from_data_and_predictions_scores_zero_and_counts_in_macro_f1():
    # Labels a, b, c, d; d never occurs. a: 2 of 2 right, 1 false positive -> P 2/3, R 1,
    # F1 0.8; b: 1 of 2 right, no false positives -> P 1, R 1/2, F1 2/3; c: 1 of 1 -> F1 1;
    # d: 0. macro = (0.8 + 2/3 + 1 + 0) / 4.
    true = torch.tensor([0, 0, 1, 1, 2])
    predicted = torch.tensor([0, 0, 1, 0, 2])
    report = classification_report(true, predicted, ["a", "b", "c", "d"])
    f1 = [report["per_class"][label]["f1"] for label in "abcd"]
    assert_close(
        torch.tensor(f1, dtype=torch.float64),
        torch.tensor([0.8, 2 / 3, 1.0, 0.0], dtype=torch.float64),
    )
    assert report["per_class"]["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report["macro_f1"] == pytest.approx((0.8 + 2 / 3 + 1.0) / 4, abs=1e-12)
    assert report["accuracy"] == pytest.approx(4 / 5, abs=1e-12)


def test_perfect_predictions():
    labels = torch.tensor([2, 0, 1, 1, 0])
    report = classification_report(labels, labels.clone(), ["x", "y", "z"])
    assert report["accuracy"] == 1.0
    assert report["macro_f1"] == 1.0
    assert report["confusion_matrix"]["rows_true_columns_predicted"] == [
        [2, 0, 0],
        [0, 2, 0],
        [0, 0, 1],
    ]


def test_agrees_with_scikit_learn_on_random_predictions():
    metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is not installed")
    generator = torch.Generator().manual_seed(0)
    true = torch.randint(0, 4, (200,), generator=generator)
    predicted = torch.randint(0, 3, (200,), generator=generator)  # class 3 never predicted
    report = classification_report(true, predicted, ["a", "b", "c", "d"])
    assert report["accuracy"] == pytest.approx(metrics.accuracy_score(true, predicted), abs=1e-12)
    assert report["macro_f1"] == pytest.approx(
        metrics.f1_score(true, predicted, average="macro", labels=[0, 1, 2, 3], zero_division=0),
        abs=1e-12,
    )
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        true, predicted, labels=[0, 1, 2, 3], zero_division=0
    )
    for index, label in enumerate("abcd"):
        got = report["per_class"][label]
        assert got["precision"] == pytest.approx(precision[index], abs=1e-12)
        assert got["recall"] == pytest.approx(recall[index], abs=1e-12)
        assert got["f1"] == pytest.approx(f1[index], abs=1e-12)
        assert got["support"] == support[index]
    assert (
        report["confusion_matrix"]["rows_true_columns_predicted"]
        == metrics.confusion_matrix(true, predicted, labels=[0, 1, 2, 3]).tolist()
    )
