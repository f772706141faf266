"""Metrics on hand-made cases: the paper's BIO repair, span F1, LAS/UAS on a known tree,
and tree decoding against brute force."""

import itertools

import numpy as np
import pytest

from fairseq_ext.transfer.heads.mst import max_spanning_tree, tree_score
from fairseq_ext.transfer.metrics import accuracy, attachment_scores, bio_spans, majority_class, repair_bio, span_f1


@pytest.mark.parametrize("predicted, repaired", [
    (["I-PER"], ["B-PER"]),  # a lone I-X becomes B-X
    (["O", "I-LOC", "I-LOC", "O"], ["O", "B-LOC", "I-LOC", "O"]),
    (["B-LOC", "I-ORG", "I-PER"], ["B-PER", "I-PER", "I-PER"]),  # B-X I-Y I-Z -> B-Z I-Z I-Z
    (["I-ORG", "I-PER", "O", "B-LOC"], ["B-PER", "I-PER", "O", "B-LOC"]),
    (["B-PER", "B-PER", "I-LOC"], ["B-PER", "B-LOC", "I-LOC"]),  # a B starts a new entity
    (["O", "O"], ["O", "O"]),
])
def test_bio_repair_follows_the_paper(predicted, repaired):
    assert repair_bio(predicted) == repaired


def test_gold_spans_are_read_like_conlleval():
    assert bio_spans(["B-PER", "I-PER", "O", "B-LOC"]) == {(0, 2, "PER"), (3, 4, "LOC")}
    # IOB1 (CoNLL-2003's original tagging): I after O or after another type starts an entity
    assert bio_spans(["I-PER", "I-LOC", "I-LOC", "B-LOC"]) == {(0, 1, "PER"), (1, 3, "LOC"), (3, 4, "LOC")}


def test_span_f1_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-PER"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O", "O"]]
    # 2 of 3 predicted spans are right, 2 of 4 gold spans are found
    scores = span_f1(gold, predicted)
    assert scores["precision"] == pytest.approx(2 / 3) and scores["recall"] == pytest.approx(1 / 2)
    assert scores["f1"] == pytest.approx(2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2))
    assert span_f1([["O"]], [["O"]]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    with pytest.raises(ValueError, match="2 predicted tags for a sentence of 1 words"):
        span_f1([["O"]], [["O", "O"]])


def test_las_and_uas_on_a_known_tree():
    # "The cat sleeps ." : The <-det- cat <-nsubj- sleeps(root) -punct-> .
    gold = [([2, 3, 0, 3], ["det", "nsubj", "root", "punct"])]
    exact = attachment_scores(gold, gold)
    assert exact == {"las": 1.0, "uas": 1.0}
    # "cat" attached to the root word right but labelled obj; "." attached to "cat"
    predicted = [([2, 3, 0, 2], ["det", "obj", "root", "punct"])]
    assert attachment_scores(gold, predicted) == {"las": 0.5, "uas": 0.75}
    # scores pool words over sentences (a 4-word and a 1-word sentence)
    two = attachment_scores(gold + [([0], ["root"])], predicted + [([0], ["root"])])
    assert two == {"las": 3 / 5, "uas": 4 / 5}


def test_accuracy_and_majority_class():
    assert accuracy(["a", "b", "b"], ["a", "a", "b"]) == {"accuracy": pytest.approx(2 / 3)}
    assert majority_class(["scalc", "swriter", "swriter", "scalc", "simpress"]) == "scalc"  # ties: sorted first


def brute_force_tree(scores):
    """The best head assignment that is a tree with one root child, by enumeration."""
    n = len(scores)
    best, best_heads = -np.inf, None
    for heads in itertools.product(range(n), repeat=n - 1):
        heads = np.array([-1, *heads])
        if any(heads[d] == d for d in range(1, n)) or np.count_nonzero(heads[1:] == 0) != 1:
            continue
        if not all(_reaches_root(heads, d) for d in range(1, n)):
            continue
        score = tree_score(scores, heads)
        if score > best:
            best, best_heads = score, heads
    return best, best_heads


def _reaches_root(heads, node):
    for _ in range(len(heads)):
        node = heads[node]
        if node == 0:
            return True
    return False


def test_tree_decoding_finds_the_best_single_root_tree():
    rng = np.random.default_rng(0)
    for trial in range(150):
        n = 2 + trial % 5  # 1 to 5 words
        scores = rng.normal(size=(n, n))
        if trial % 3 == 0:
            scores[1:, 0] += 3  # tempt several words to hang off the root
        heads = max_spanning_tree(scores)
        best, _ = brute_force_tree(scores)
        assert np.count_nonzero(heads[1:] == 0) == 1
        assert all(_reaches_root(heads, d) for d in range(1, n))
        assert tree_score(scores, heads) == pytest.approx(best)


def test_tree_decoding_breaks_a_cycle():
    # words 1 and 2 prefer each other; the best tree enters the cycle from the root at 2
    scores = np.full((3, 3), -10.0)
    scores[1, 2], scores[2, 1] = 5.0, 5.0
    scores[1, 0], scores[2, 0] = 1.0, 2.0
    assert max_spanning_tree(scores).tolist() == [-1, 2, 0]
