"""Labelled and unlabelled attachment scores over all words (punctuation included)."""

from typing import Dict, Sequence, Tuple

import numpy as np


def attachment_scores(
    gold: Sequence[Tuple[Sequence[int], Sequence[str]]],
    predicted: Sequence[Tuple[Sequence[int], Sequence[str]]],
) -> Dict[str, float]:
    """``gold`` and ``predicted``: per sentence, (heads, relations) of its words."""
    if len(gold) != len(predicted) or not gold:
        raise ValueError(f"{len(predicted)} predicted trees for {len(gold)} gold ones")
    for (gold_heads, _), (predicted_heads, _) in zip(gold, predicted):
        if len(gold_heads) != len(predicted_heads):
            raise ValueError(f"{len(predicted_heads)} predicted heads for a sentence of {len(gold_heads)} words")
    gold_heads = np.concatenate([np.asarray(heads) for heads, _ in gold])
    predicted_heads = np.concatenate([np.asarray(heads) for heads, _ in predicted])
    gold_relations = np.concatenate([np.asarray(relations, dtype=object) for _, relations in gold])
    predicted_relations = np.concatenate([np.asarray(relations, dtype=object) for _, relations in predicted])
    attached = gold_heads == predicted_heads
    labelled = attached & (gold_relations == predicted_relations)
    return {"las": float(labelled.mean()), "uas": float(attached.mean())}
