"""Classification metrics from predictions: accuracy, macro-F1, per-class precision, recall and F1,
and the confusion matrix (rows: true class, columns: predicted class).

Macro-F1 is the unweighted mean of the per-class F1 = 2PR / (P + R) (a class never predicted and
never present scores 0, as in scikit-learn's zero_division=0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def confusion_matrix(true: torch.Tensor, predicted: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, C) counts: [t, p] = how many of class t were predicted as p."""
    flat = true.long() * num_classes + predicted.long()  # (N,)
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, -1)


def classification_report(
    true: torch.Tensor, predicted: torch.Tensor, labels: Sequence[str]
) -> dict[str, Any]:
    """accuracy, macro_f1, per_class {label: precision, recall, f1, support}, confusion_matrix."""
    matrix = confusion_matrix(true, predicted, len(labels)).double()  # (C, C)
    hits = matrix.diagonal()  # (C,)
    predicted_count = matrix.sum(dim=0)  # (C,)
    true_count = matrix.sum(dim=1)  # (C,)
    precision = torch.where(predicted_count > 0, hits / predicted_count.clamp(min=1), 0.0)
    recall = torch.where(true_count > 0, hits / true_count.clamp(min=1), 0.0)
    denominator = precision + recall
    f1 = torch.where(denominator > 0, 2 * precision * recall / denominator.clamp(min=1e-12), 0.0)
    total = float(matrix.sum())
    return {
        "accuracy": float(hits.sum()) / total if total else 0.0,
        "macro_f1": float(f1.mean()),
        "per_class": {
            label: {
                "precision": float(precision[index]),
                "recall": float(recall[index]),
                "f1": float(f1[index]),
                "support": int(true_count[index]),
            }
            for index, label in enumerate(labels)
        },
        "confusion_matrix": {
            "labels": list(labels),
            "rows_true_columns_predicted": matrix.long().tolist(),
        },  # fmt: skip
    }
