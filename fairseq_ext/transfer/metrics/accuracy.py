"""Classification accuracy, and the majority-class baseline it is compared with."""

from collections import Counter
from typing import Dict, Sequence


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> Dict[str, float]:
    if len(gold) != len(predicted) or not gold:
        raise ValueError(f"accuracy needs as many predictions as gold labels (got {len(predicted)} and {len(gold)})")
    correct = sum(g == p for g, p in zip(gold, predicted))
    return {"accuracy": correct / len(gold)}


def majority_class(train_labels: Sequence[str]) -> str:
    """The most frequent training label (ties go to the label first in sorted order)."""
    counts = Counter(train_labels)
    return min(counts, key=lambda label: (-counts[label], label))
