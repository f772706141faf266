"""Maximum spanning arborescence (Chu-Liu/Edmonds) for decoding dependency trees, with
one child of the root as UD requires."""

import numpy as np

NO_ARC = -np.inf


def max_spanning_tree(scores: np.ndarray) -> np.ndarray:
    """Heads of the best tree with a single root child.

    ``scores[d, h]`` scores word ``h`` as the head of word ``d``; node 0 is the root.
    Returns ``heads`` with ``heads[0] = -1``.
    """
    scores = np.array(scores, dtype=np.float64)
    heads = _arborescence(scores)
    if np.count_nonzero(heads[1:] == 0) <= 1:
        return heads
    # several root children: the best tree among those with each word as the only one
    best, best_score = None, NO_ARC
    for child in range(1, len(scores)):
        restricted = scores.copy()
        restricted[1:, 0] = NO_ARC
        restricted[child, 0] = scores[child, 0]
        candidate = _arborescence(restricted)
        score = tree_score(scores, candidate)
        if score > best_score:
            best, best_score = candidate, score
    return best


def tree_score(scores: np.ndarray, heads: np.ndarray) -> float:
    words = np.arange(1, len(heads))
    return float(scores[words, heads[1:]].sum())


def _arborescence(scores: np.ndarray) -> np.ndarray:
    n = len(scores)
    scores = scores.copy()
    np.fill_diagonal(scores, NO_ARC)
    scores[0, :] = NO_ARC  # the root has no head
    heads = scores.argmax(axis=1)
    heads[0] = -1
    cycle = _find_cycle(heads)
    if cycle is None:
        return heads

    # contract the cycle into one node (the last of the smaller graph) and solve that
    in_cycle = np.zeros(n, dtype=bool)
    in_cycle[cycle] = True
    outside = np.flatnonzero(~in_cycle)  # the root stays node 0
    contracted = len(outside)
    kept_arc_scores = scores[cycle, heads[cycle]]
    smaller = np.full((contracted + 1, contracted + 1), NO_ARC)
    smaller[:contracted, :contracted] = scores[np.ix_(outside, outside)]
    from_cycle = scores[np.ix_(outside, cycle)]  # a cycle word heading an outside word
    best_cycle_head = from_cycle.argmax(axis=1)
    smaller[:contracted, contracted] = from_cycle.max(axis=1)
    # entering the cycle at word d breaks d's cycle arc: score the difference
    into_cycle = scores[np.ix_(cycle, outside)] - kept_arc_scores[:, None]
    best_entry = into_cycle.argmax(axis=0)
    smaller[contracted, :contracted] = into_cycle.max(axis=0)
    smaller_heads = _arborescence(smaller)

    # expand: outside words keep their heads; the cycle is broken where it is entered
    result = np.empty(n, dtype=np.int64)
    for i, word in enumerate(outside[1:], start=1):
        head = smaller_heads[i]
        result[word] = cycle[best_cycle_head[i]] if head == contracted else outside[head]
    result[cycle] = heads[cycle]
    entry_head = smaller_heads[contracted]
    result[cycle[best_entry[entry_head]]] = outside[entry_head]
    result[0] = -1
    return result


def _find_cycle(heads: np.ndarray):
    """The words of a cycle among ``heads`` (as an array), or None."""
    state = np.zeros(len(heads), dtype=np.int8)  # 0 unseen, 1 on the current walk, 2 done
    for start in range(1, len(heads)):
        walk, node = [], start
        while node > 0 and state[node] == 0:
            state[node] = 1
            walk.append(node)
            node = heads[node]
        if node > 0 and state[node] == 1:
            return np.array(walk[walk.index(node) :])
        state[walk] = 2
    return None
