"""Small, dependency-free statistics used by scorer aggregates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any


def safe_div(num: float, den: float) -> float:
    return num / den if den else 0.0


def f1(precision: float, recall: float) -> float:
    return safe_div(2 * precision * recall, precision + recall)


def confusion_matrix(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, dict[str, int]]:
    """matrix[true_label][predicted_label] = count, over every label seen on either side."""
    labels = sorted(set(truth) | set(predicted))
    matrix = {t: dict.fromkeys(labels, 0) for t in labels}
    for t, p in zip(truth, predicted, strict=True):
        matrix[t][p] += 1
    return matrix


def classification_report(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support, macro F1, and the confusion matrix."""
    matrix = confusion_matrix(truth, predicted)
    per_class: dict[str, dict[str, float]] = {}
    for label in sorted(set(truth)):
        tp = matrix[label][label]
        predicted_as = sum(row.get(label, 0) for row in matrix.values())
        support = sum(matrix[label].values())
        p = safe_div(tp, predicted_as)
        r = safe_div(tp, support)
        per_class[label] = {"precision": p, "recall": r, "f1": f1(p, r), "support": support}
    n = len(truth)
    return {
        "n": n,
        "accuracy": safe_div(sum(1 for t, p in zip(truth, predicted, strict=True) if t == p), n),
        "macro_f1": safe_div(sum(c["f1"] for c in per_class.values()), len(per_class)),
        "per_class": per_class,
        "confusion_matrix": matrix,
    }


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa between two raters; None when undefined (no pairs)."""
    n = len(a)
    if n == 0 or n != len(b):
        return None
    observed = sum(1 for x, y in zip(a, b, strict=True) if x == y) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb.get(k, 0) for k in ca) / (n * n)
    if expected == 1.0:
        # Both raters used one and the same category throughout: perfect but uninformative.
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1 - expected)


def percent_agreement(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    if not a or len(a) != len(b):
        return None
    return sum(1 for x, y in zip(a, b, strict=True) if x == y) / len(a)
