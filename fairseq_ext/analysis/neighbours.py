"""Nearest-neighbour retrieval by cosine or by CSLS (Conneau et al. 2018), in blocks.

CSLS(x, y) = 2 cos(x, y) − r_T(x) − r_S(y), where r_T(x) is the mean cosine of query x
with its K nearest candidates and r_S(y) the mean cosine of candidate y with its K nearest
vectors of the source space (all source vectors, not only the queries, as MUSE does).
It lowers the score of "hubs", candidates that are near to everything.

No query x candidate matrix is ever whole: similarities are computed for a block of rows
at a time, sized so a block holds at most ``block_elements`` numbers, and only each row's
top entries are kept. Memory is O(block_elements + rows x k) for any vocabulary size.
"""

from typing import Iterator, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

METHODS = ("nn", "csls")
DEFAULT_BLOCK_ELEMENTS = 1 << 25  # 128 MiB of float32 similarities per block


def _row_blocks(n_rows: int, n_cols: int, block_elements: int) -> Iterator[slice]:
    rows = max(1, block_elements // max(n_cols, 1))
    for start in range(0, n_rows, rows):
        yield slice(start, min(start + rows, n_rows))


def _blocks_with_progress(n_rows, n_cols, block_elements, desc):
    blocks = list(_row_blocks(n_rows, n_cols, block_elements))
    return tqdm(blocks, desc=desc, unit=" blocks", disable=None if len(blocks) > 20 else True, leave=False)


def mean_top_k_similarity(a: torch.Tensor, b: torch.Tensor, k: int, block_elements: int = DEFAULT_BLOCK_ELEMENTS) -> torch.Tensor:
    """For each row of ``a`` (unit vectors), the mean cosine with its ``k`` nearest rows of ``b``."""
    k = min(k, b.shape[0])
    out = torch.empty(a.shape[0], dtype=a.dtype, device=a.device)
    for rows in _blocks_with_progress(a.shape[0], b.shape[0], block_elements, f"CSLS r_k over {b.shape[0]}"):
        out[rows] = (a[rows] @ b.T).topk(k, dim=1).values.mean(1)
    return out


def retrieve(
    queries: torch.Tensor,
    candidates: torch.Tensor,
    k: int = 5,
    method: str = "nn",
    csls_k: int = 10,
    source_space: Optional[torch.Tensor] = None,
    block_elements: int = DEFAULT_BLOCK_ELEMENTS,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` best candidates of each query: (scores, indices), both queries x k.

    ``source_space``: the vectors r_S is computed against (CSLS); by default the queries.
    Vectors are compared by cosine (they are unit-normalised here).
    """
    if method not in METHODS:
        raise ValueError(f"retrieval method {method!r}: expected one of {METHODS}")
    queries, candidates = F.normalize(queries, dim=1), F.normalize(candidates, dim=1)
    k = min(k, candidates.shape[0])
    if method == "csls":
        source = queries if source_space is None else F.normalize(source_space.to(queries), dim=1)
        r_target = mean_top_k_similarity(queries, candidates, csls_k, block_elements)
        r_source = mean_top_k_similarity(candidates, source, csls_k, block_elements)
    scores = torch.empty(queries.shape[0], k, dtype=queries.dtype, device=queries.device)
    indices = torch.empty(queries.shape[0], k, dtype=torch.long, device=queries.device)
    for rows in _blocks_with_progress(queries.shape[0], candidates.shape[0], block_elements, "retrieve"):
        sim = queries[rows] @ candidates.T
        if method == "csls":
            sim = 2 * sim - r_target[rows, None] - r_source[None, :]
        scores[rows], indices[rows] = sim.topk(k, dim=1)
    return scores, indices


def precision_at_k(ranked: np.ndarray, gold: Sequence[Sequence[int]], ks: Sequence[int] = (1, 5)) -> dict:
    """Share of queries with a correct candidate among their first k; ``gold[i]`` lists the
    correct candidates of query i (several translations may be right)."""
    ranked = np.asarray(ranked)
    query, answer = zip(*((q, a) for q, answers in enumerate(gold) for a in answers)) if len(gold) else ((), ())
    first_hit = np.full(len(gold), np.inf)
    if query:
        query, answer = np.asarray(query), np.asarray(answer)
        match = ranked[query] == answer[:, None]  # (gold pairs) x k
        rank = np.where(match.any(1), match.argmax(1), np.inf)
        np.minimum.at(first_hit, query, rank)
    return {f"p@{k}": float((first_hit < k).mean()) if len(gold) else float("nan") for k in ks}
