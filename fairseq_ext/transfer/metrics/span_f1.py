"""Span-level F1 for BIO tagging, and the paper's repair of predicted tag sequences.

Gold spans are read the conlleval way: a span starts at ``B-X``, or at ``I-X`` after ``O``
or after a tag of another type. Predictions are first repaired with the paper's rule
(Section 3.2): a tag run ``B/I-X I-Y ... I-Z`` is one entity of the *final* type Z, so a
lone ``I-X`` becomes ``B-X`` and ``B-X I-Y I-Z`` becomes ``B-Z I-Z I-Z``.
"""

from typing import Dict, List, Sequence, Set, Tuple

Span = Tuple[int, int, str]  # first word, one past the last word, entity type


def repair_bio(tags: Sequence[str]) -> List[str]:
    repaired = list(tags)
    start = 0
    while start < len(tags):
        if tags[start] == "O":
            start += 1
            continue
        end = start + 1
        while end < len(tags) and tags[end].startswith("I-"):
            end += 1
        entity_type = tags[end - 1][2:]
        repaired[start] = f"B-{entity_type}"
        repaired[start + 1 : end] = [f"I-{entity_type}"] * (end - start - 1)
        start = end
    return repaired


def bio_spans(tags: Sequence[str]) -> Set[Span]:
    spans, start, open_type = set(), None, None
    for position, tag in enumerate([*tags, "O"]):  # the sentinel closes a final span
        prefix, entity_type = tag[:1], tag[2:]
        continues = prefix == "I" and entity_type == open_type
        if open_type is not None and not continues:
            spans.add((start, position, open_type))
            open_type = None
        if prefix in ("B", "I") and not continues:
            start, open_type = position, entity_type
    return spans


def span_f1(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> Dict[str, float]:
    """Micro precision, recall and F1 over the exact spans of all sentences."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(predicted)} predicted sentences for {len(gold)} gold ones")
    true_positives = n_gold = n_predicted = 0
    for gold_tags, predicted_tags in zip(gold, predicted):
        if len(gold_tags) != len(predicted_tags):
            raise ValueError(f"{len(predicted_tags)} predicted tags for a sentence of {len(gold_tags)} words")
        gold_spans, predicted_spans = bio_spans(gold_tags), bio_spans(predicted_tags)
        true_positives += len(gold_spans & predicted_spans)
        n_gold += len(gold_spans)
        n_predicted += len(predicted_spans)
    precision = true_positives / n_predicted if n_predicted else 0.0
    recall = true_positives / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall}
