"""Word translation (bilingual lexicon induction) with an orthogonal map (Section 5.1.1).

Word spaces (:class:`WordSpace`: words and one vector each) of the two languages are
aligned by :class:`OrthogonalMap`, learned on the training dictionary's pairs whose words
both spaces have, and evaluated on the test dictionary: for each English test word the
target space is searched (nearest neighbour or CSLS) and P@k counts a hit when any listed
translation is among the first k. Spaces:

- :func:`input_embedding_space`: a model's input embedding rows of words that are a
  single subword (Figure 4a);
- :func:`contextual_spaces`: per layer, the average contextual vector of each of the most
  frequent words of a text sample (Figure 4b);
- :func:`fasttext_space`: fastText skip-gram vectors trained on the same text (the
  baseline), for the same words as either of the above.
"""

import os
import tempfile
from dataclasses import dataclass
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np
import torch

from fairseq_ext.analysis.neighbours import precision_at_k, retrieve
from fairseq_ext.analysis.procrustes import OrthogonalMap
from fairseq_ext.analysis.representations import contextual_word_averages, word_counts
from fairseq_ext.analysis.words import SentenceWords, is_punctuation
from fairseq_ext.transfer.model import Pretrained

KS = (1, 5)


@dataclass
class WordSpace:
    words: List[str]
    vectors: torch.Tensor  # words x dim

    def index(self) -> Dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}


def input_embedding_space(model: Pretrained, lang: str, lowercase: bool = True) -> WordSpace:
    """Rows of the language's input embedding table for pieces that are a whole word: they
    start a word (``▁``) and the language's sentencepiece model encodes the word as
    exactly that piece. The first piece of a word (in dictionary order) wins on case clashes."""
    vocab = model.vocab
    prefix = vocab.piece_prefix.get(lang, "")
    words, rows = [], []
    seen = set()
    for i, symbol in enumerate(vocab.dictionary.symbols):
        if i < vocab.dictionary.nspecial or not symbol.startswith(prefix + "▁"):
            continue
        surface = symbol[len(prefix) + 1:]
        word = surface.lower() if lowercase else surface
        if not surface or is_punctuation(surface) or word in seen or vocab.pieces(surface, lang) != [symbol]:
            continue
        seen.add(word)
        words.append(word)
        rows.append(i)
    if not words:
        raise ValueError(f"the vocabulary of {vocab.data_dir} has no single-piece word of '{lang}'")
    with torch.no_grad():  # the dictionary ids' rows in the language's own table
        vectors = model.encoder.token_vectors(torch.tensor(rows), model.lang_id(lang))
    return WordSpace(words, vectors.float().cpu())


def frequent_words(encoded: Sequence[SentenceWords], max_words: int, min_count: int) -> List[str]:
    counts = word_counts(encoded)
    return [w for w, c in sorted(counts.items(), key=lambda wc: (-wc[1], wc[0]))[:max_words] if c >= min_count]


def contextual_spaces(
    model: Pretrained, encoded: Sequence[SentenceWords], lang: str, words: Sequence[str], batch_size: int, device
) -> List[WordSpace]:
    """One space per layer L0..LN over ``words``."""
    averages = contextual_word_averages(model, encoded, lang, words, batch_size, device)
    return [WordSpace(list(words), layer) for layer in averages]


def train_fasttext(word_lists: Iterable[Sequence[str]], dim: int, epochs: int, min_count: int, threads: int):
    """A fastText skip-gram model of the given sentences (as word lists: the same words
    the contextual spaces see); with one thread, the same vectors on every run."""
    import fasttext

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "text.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(" ".join(words) + "\n" for words in word_lists)
        return fasttext.train_unsupervised(
            path, model="skipgram", dim=dim, epoch=epochs, minCount=min_count, thread=threads, verbose=0
        )


def fasttext_space(model, words: Sequence[str]) -> WordSpace:
    return WordSpace(list(words), torch.tensor(np.stack([model.get_word_vector(w) for w in words])))


def frequency_split(
    pairs: Sequence[Tuple[str, str]], frequency: Dict[str, int], seed_words: int, test_words: int
) -> Tuple[List[Tuple[str, str]], List[Tuple[str, str]]]:
    """MUSE's split: the pairs of the ``seed_words`` most frequent English words (that occur)
    learn the map, those of the next ``test_words`` test it."""
    ranked = sorted({a for a, _ in pairs if frequency.get(a, 0) > 0}, key=lambda w: (-frequency[w], w))
    seed, test = set(ranked[:seed_words]), set(ranked[seed_words : seed_words + test_words])
    return [p for p in pairs if p[0] in seed], [p for p in pairs if p[0] in test]


@dataclass
class DictionaryIndex:
    """Dictionary pairs as rows of the two spaces."""

    train_pairs: Tuple[torch.Tensor, torch.Tensor]
    queries: torch.Tensor  # source rows of the test words both spaces can evaluate
    gold: List[List[int]]  # per query: target rows of its translations
    test_words: int  # English test words in the dictionary


def index_dictionary(
    source: WordSpace, target: WordSpace, train: Sequence[Tuple[str, str]], test: Sequence[Tuple[str, str]], where: str
) -> DictionaryIndex:
    s_index, t_index = source.index(), target.index()
    pairs = [(s_index[a], t_index[b]) for a, b in train if a in s_index and b in t_index]
    if not pairs:
        raise ValueError(f"{where}: no training pair has both words in the two vocabularies")
    answers: Dict[int, List[int]] = {}
    for a, b in test:
        if a in s_index and b in t_index:
            answers.setdefault(s_index[a], []).append(t_index[b])
    if not answers:
        raise ValueError(f"{where}: no test pair has both words in the two vocabularies")
    train_s, train_t = (torch.tensor(x) for x in zip(*pairs))
    queries = sorted(answers)
    return DictionaryIndex((train_s, train_t), torch.tensor(queries), [answers[q] for q in queries], len({a for a, _ in test}))


TEST_SIZE = "test_words"  # translate()'s count of test words (the n of P@k)


def column(aligned: bool, method: str, measure: str = "p@1") -> str:
    """The name of a score column of :func:`translate`'s result (and the table's)."""
    return f"{'aligned' if aligned else 'unaligned'}_{method}_{measure}"


def translate(source: WordSpace, target: WordSpace, dictionary: DictionaryIndex, methods: Sequence[str], csls_k: int) -> dict:
    """P@1/P@5 of English -> target translation, aligned and unaligned (same normalisation,
    no rotation), per retrieval method; plus how many words were used."""
    mapping = OrthogonalMap.learn(source.vectors, target.vectors, pairs=dictionary.train_pairs)
    candidates = mapping.reference(target.vectors)
    result = {"train_pairs": len(dictionary.train_pairs[0]), TEST_SIZE: len(dictionary.queries)}
    for aligned, space in ((True, mapping(source.vectors)), (False, mapping.identity(source.vectors))):
        for method in methods:
            _, ranked = retrieve(
                space[dictionary.queries], candidates, k=max(KS), method=method, csls_k=csls_k, source_space=space
            )
            for name, value in precision_at_k(ranked.numpy(), dictionary.gold, KS).items():
                result[column(aligned, method, name)] = value
    return result
