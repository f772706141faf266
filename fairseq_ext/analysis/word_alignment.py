"""Contextual word alignment across two models (Section 5.1.2).

1. Word pairs: an unsupervised aligner (eflomal, a fast_align-like Bayesian aligner that
   runs offline) aligns the words of parallel sentences in both directions; the links
   found in both directions (the intersection, precise) are kept.
2. Per layer i, the contextual vectors of the linked words (a word = the average of its
   subwords) in the *target* model and in the *English* model give paired rows, and
   :class:`OrthogonalMap` maps layer i of the target model onto layer i of the English one.
3. :func:`mapped_features` applies a layer's map to a target batch, for the transfer
   protocol (English layers 1..i frozen + a small head trained on English, applied to
   mapped target features); :func:`word_retrieval_by_layer` measures the maps on held-out
   sentences.
"""

import os
import tempfile
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from fairseq_ext.analysis.neighbours import precision_at_k, retrieve
from fairseq_ext.analysis.procrustes import OrthogonalMap
from fairseq_ext.analysis.representations import word_occurrences
from fairseq_ext.analysis.words import SentenceWords
from fairseq_ext.transfer.model import Pretrained

Link = Tuple[int, int]  # (English chunk, target chunk)


def _alignment_lines(sentences: Sequence[SentenceWords]) -> Tuple[str, ...]:
    return tuple(" ".join(s.words[i] for i in s.keyed()) for s in sentences)


def align_words(
    english: Sequence[SentenceWords], target: Sequence[SentenceWords], cache: Optional[dict] = None
) -> List[List[Link]]:
    """Links between chunk indices of each sentence pair (eflomal, intersection of both directions).

    ``cache``, a dict kept across calls, holds eflomal's links per input text: the
    comparisons of an analysis align the same parallel words once (eflomal takes most of
    the word-map analysis), and every comparison is measured on the same word pairs."""
    import eflomal

    en_lines, tgt_lines = _alignment_lines(english), _alignment_lines(target)
    key = (en_lines, tgt_lines)
    both = None if cache is None else cache.get(key)
    if both is None:
        with tempfile.TemporaryDirectory() as tmp:
            forward, backward = os.path.join(tmp, "fwd"), os.path.join(tmp, "rev")
            eflomal.Aligner().align(list(en_lines), list(tgt_lines), links_filename_fwd=forward, links_filename_rev=backward)
            with open(forward, encoding="utf-8") as f, open(backward, encoding="utf-8") as b:
                both = [(set(fl.split()) & set(bl.split())) for fl, bl in zip(f, b)]
        if cache is not None:
            cache[key] = both
    links = []
    for e, t, kept in zip(english, target, both):
        e_chunks, t_chunks = e.keyed(), t.keyed()
        pairs = sorted(tuple(map(int, link.split("-"))) for link in kept)
        links.append([(e_chunks[i], t_chunks[j]) for i, j in pairs])
    return links


def _vectors_of(model: Pretrained, encoded, lang, wanted: Dict[Tuple[int, int], int], batch_size, device) -> torch.Tensor:
    """Layers x len(wanted) x dim: row ``wanted[(sentence, chunk)]`` holds that word's vector."""
    out = None
    for batch in word_occurrences(model, encoded, lang, batch_size, device):
        rows = np.array([wanted.get((s, c), -1) for s, c in zip(batch.sentence, batch.chunk)])
        keep = np.flatnonzero(rows >= 0)
        if out is None:
            out = torch.full((batch.vectors.shape[0], len(wanted), batch.vectors.shape[2]), float("nan"))
        out[:, torch.from_numpy(rows[keep])] = batch.vectors[:, torch.from_numpy(keep)].float().cpu()
    return out


@dataclass
class WordPairs:
    english: torch.Tensor  # layers x pairs x dim (English model)
    target: torch.Tensor  # layers x pairs x dim (target model)


def contextual_word_pairs(
    english_model: Pretrained,
    english_lang: str,
    english: Sequence[SentenceWords],
    target_model: Pretrained,
    target_lang: str,
    target: Sequence[SentenceWords],
    links: Sequence[Sequence[Link]],
    max_pairs: int,
    batch_size: int = 32,
    device="cpu",
) -> WordPairs:
    """Vectors of linked words in both models, for at most ``max_pairs`` links (in order);
    links to words cut off by a model's length limit are dropped."""
    chosen = [(s, e, t) for s, pairs in enumerate(links) for e, t in pairs
              if english[s].subwords[e] and target[s].subwords[t]][:max_pairs]
    if not chosen:
        raise ValueError("the aligner linked no word pair in the parallel sentences")
    # intersected links are one-to-one, so every chosen word has its own row
    english_rows = {(s, e): i for i, (s, e, _) in enumerate(chosen)}
    target_rows = {(s, t): i for i, (s, _, t) in enumerate(chosen)}
    return WordPairs(
        _vectors_of(english_model, english, english_lang, english_rows, batch_size, device),
        _vectors_of(target_model, target, target_lang, target_rows, batch_size, device),
    )


def learn_layer_maps(pairs: WordPairs, rounds: int = 5) -> List[OrthogonalMap]:
    """One map per layer L0..LN, from the target model's layer onto the English model's."""
    return [OrthogonalMap.learn(pairs.target[layer], pairs.english[layer], rounds) for layer in range(pairs.target.shape[0])]


@torch.inference_mode()
def mapped_features(model: Pretrained, tokens: torch.Tensor, lang_id: torch.Tensor, layer: int, maps: Sequence[OrthogonalMap]) -> torch.Tensor:
    """B x T x C features of layer ``layer`` of a target-language batch, mapped into the
    English model's raw feature space (mean and scale restored), ready for a head trained
    on that English layer. Padding positions are mapped too; the head masks them."""
    states = model.encoder(tokens, return_all_hiddens=True, src_lang_id=lang_id)["encoder_states"][layer]
    features = states.transpose(0, 1)
    flat = features.reshape(-1, features.shape[-1])
    return maps[layer].to_reference_features(flat).reshape(features.shape).to(features.dtype)


TEST_SIZE = "pairs"  # linked word pairs per row (the n of P@1)


def column(aligned: bool) -> str:
    """The name of the P@1 column of :func:`word_retrieval_by_layer`'s rows (and the table's)."""
    return f"{'aligned' if aligned else 'unaligned'}_p@1"


def word_retrieval_by_layer(maps: Sequence[OrthogonalMap], pairs: WordPairs) -> List[Dict[str, float]]:
    """Held-out linked words: P@1 of finding each target word's English partner among all
    linked English words of the set, through each layer's map and without it."""
    gold = [[i] for i in range(pairs.target.shape[1])]
    rows = []
    for layer, mapping in enumerate(maps):
        english = mapping.reference(pairs.english[layer])
        row = {"layer": layer, TEST_SIZE: pairs.target.shape[1]}
        for aligned, target in ((True, mapping(pairs.target[layer])), (False, mapping.identity(pairs.target[layer]))):
            _, ranked = retrieve(target, english, k=1)
            row[column(aligned)] = precision_at_k(ranked.numpy(), gold, (1,))["p@1"]
        rows.append(row)
    return rows
