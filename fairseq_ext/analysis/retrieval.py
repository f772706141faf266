"""Sentence retrieval per layer (Section 5.1.3): precision@1 of finding a sentence's
translation among all test sentences by cosine of mean-pooled vectors, without a map
(the same normalisation, no rotation) and with an orthogonal map learned on a separate
set of parallel sentences (the paper: 10k)."""

from typing import Dict, List, Sequence

import torch

from fairseq_ext.analysis.neighbours import precision_at_k, retrieve
from fairseq_ext.analysis.procrustes import OrthogonalMap


TEST_SIZE = "test_sentences"  # the table's column of test sentences per row (the n of P@1)


def column(aligned: bool, method: str = "nn", direction: str = "to_en") -> str:
    """The name of a P@1 column of :func:`retrieval_by_layer`'s rows (and the table's)."""
    return f"{'aligned' if aligned else 'unaligned'}_{method}_{direction}_p@1"


def retrieval_by_layer(
    target_train: torch.Tensor,
    english_train: torch.Tensor,
    target_test: torch.Tensor,
    english_test: torch.Tensor,
    methods: Sequence[str] = ("nn",),
    csls_k: int = 10,
) -> List[Dict[str, float]]:
    """Inputs: layers x sentences x dim, row i of a target set translating row i of the
    English set. One row per layer: P@1 target -> English and English -> target."""
    gold = [[i] for i in range(target_test.shape[1])]
    rows = []
    for layer in range(target_test.shape[0]):
        mapping = OrthogonalMap.learn(target_train[layer], english_train[layer])
        english = mapping.reference(english_test[layer])
        row = {"layer": layer}
        for aligned, target in ((True, mapping(target_test[layer])), (False, mapping.identity(target_test[layer]))):
            for method in methods:
                for direction, (queries, candidates) in (("to_en", (target, english)), ("from_en", (english, target))):
                    _, ranked = retrieve(queries, candidates, k=1, method=method, csls_k=csls_k)
                    row[column(aligned, method, direction)] = precision_at_k(ranked.numpy(), gold, (1,))["p@1"]
        rows.append(row)
    return rows
