"""Sentence retrieval per layer (Section 5.1.3): precision@1 of finding a sentence's
translation among all test sentences by cosine of mean-pooled vectors, without a map
(the same normalisation, no rotation) and with an orthogonal map learned on a separate
set of parallel sentences (the paper: 10k)."""

from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from fairseq_ext.analysis.neighbours import retrieve
from fairseq_ext.analysis.procrustes import OrthogonalMap
from fairseq_ext.analysis.tables import read_table


TEST_SIZE = "test_sentences"  # the table's column of test sentences per row (the n of P@1)


def column(aligned: bool, method: str = "nn", direction: str = "to_en") -> str:
    """The name of a P@1 column of :func:`retrieval_by_layer`'s rows (and the table's)."""
    return f"{'aligned' if aligned else 'unaligned'}_{method}_{direction}_p@1"


def hits_by_layer(
    target_train: torch.Tensor,
    english_train: torch.Tensor,
    target_test: torch.Tensor,
    english_test: torch.Tensor,
    methods: Sequence[str] = ("nn",),
    csls_k: int = 10,
) -> List[Dict[str, np.ndarray]]:
    """Inputs: layers x sentences x dim, row i of a target set translating row i of the
    English set. One dict per layer: P@1 column -> whether each query's first candidate is
    its translation (target -> English and English -> target). Two encoders tested on the
    same sentences are compared query by query (``demo.claims``: a paired SE)."""
    gold = torch.arange(target_test.shape[1])
    layers = []
    for layer in range(target_test.shape[0]):
        mapping = OrthogonalMap.learn(target_train[layer], english_train[layer])
        english = mapping.reference(english_test[layer])
        hits = {}
        for aligned, target in ((True, mapping(target_test[layer])), (False, mapping.identity(target_test[layer]))):
            for method in methods:
                for direction, (queries, candidates) in (("to_en", (target, english)), ("from_en", (english, target))):
                    _, ranked = retrieve(queries, candidates, k=1, method=method, csls_k=csls_k)
                    hits[column(aligned, method, direction)] = (ranked[:, 0] == gold).numpy()
        layers.append(hits)
    return layers


def rows_of(hits: Sequence[Dict[str, np.ndarray]]) -> List[Dict[str, float]]:
    """The P@1 table of :func:`hits_by_layer`'s hits: one row per layer."""
    return [{"layer": layer, **{name: float(h.mean()) for name, h in columns.items()}}
            for layer, columns in enumerate(hits)]


def retrieval_by_layer(*inputs, **options) -> List[Dict[str, float]]:
    """P@1 per layer (:func:`hits_by_layer`'s arguments)."""
    return rows_of(hits_by_layer(*inputs, **options))


HITS = "retrieval/retrieval_hits.csv"  # under an analysis out_dir: one row per pair, comparison, layer, column


def hit_rows(pair: str, comparison: str, hits: Sequence[Dict[str, np.ndarray]]) -> List[Dict[str, str]]:
    """Rows of :data:`HITS`: each query's hit as one character, 1 or 0, in query order."""
    return [{"pair": pair, "comparison": comparison, "layer": layer, "column": name,
             "hits": "".join("1" if hit else "0" for hit in h)}
            for layer, columns in enumerate(hits) for name, h in columns.items()]


def read_hits(out_dir) -> Dict[Tuple[str, str, str, str], np.ndarray]:
    """(pair, comparison, layer, column) -> per-query hits (bool) of :data:`HITS`; {} where
    none were written (an analysis of an earlier version)."""
    path = Path(out_dir) / HITS
    if not path.exists():
        return {}
    return {(r["pair"], r["comparison"], r["layer"], r["column"]): np.frombuffer(r["hits"].encode(), np.uint8) == ord("1")
            for r in read_table(path)}
