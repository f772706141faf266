"""Words of a sentence, as the word-level analyses (word translation, word alignment)
see them, and their subwords in the model.

- A sentence is cut into *chunks*: at whitespace, or by jieba for Chinese, which has
  none (the paper used the Stanford segmenter). Each chunk is encoded on its own
  (:meth:`Vocabulary.encode_words`), which for whitespace languages gives exactly the
  pieces of pretraining, since sentencepiece never joins across a space.
- A chunk's *word* is the chunk without leading and trailing punctuation, lowercased by
  default (dictionaries are lowercase); a chunk of punctuation only has no word.
- A word's vector is the average of its subwords, not counting pieces of punctuation only
  (``"peacemakers,"`` -> ``▁peace``, ``makers``), so the comma does not blur the word.
"""

import logging
import unicodedata
from dataclasses import dataclass
from typing import List, Optional

import torch

from fairseq_ext.vocab import Vocabulary

SEGMENTERS = {"zh": "jieba"}  # languages written without spaces between words


def is_punctuation(text: str) -> bool:
    return bool(text) and all(unicodedata.category(ch)[0] in "PS" for ch in text)


def word_of(chunk: str, lowercase: bool = True) -> Optional[str]:
    start, end = 0, len(chunk)
    while start < end and is_punctuation(chunk[start]):
        start += 1
    while end > start and is_punctuation(chunk[end - 1]):
        end -= 1
    word = chunk[start:end]
    return (word.lower() if lowercase else word) or None


def chunks(text: str, lang: str) -> List[str]:
    if SEGMENTERS.get(lang) == "jieba":
        import jieba

        jieba.setLogLevel(logging.WARNING)
        return [c for c in jieba.lcut(text) if c.strip()]
    return text.split()


def punctuation_pieces(vocab: Vocabulary) -> torch.Tensor:
    """A mask over model ids: pieces that hold punctuation only, or nothing but '▁'."""
    mask = torch.zeros(len(vocab.dictionary), dtype=torch.bool)
    prefixes = tuple(p for p in vocab.piece_prefix.values() if p)
    for i, symbol in enumerate(vocab.dictionary.symbols):
        for prefix in prefixes:
            if symbol.startswith(prefix):
                symbol = symbol[len(prefix):]
                break
        surface = symbol.replace("▁", "")
        mask[i] = not surface or is_punctuation(surface)
    return mask


@dataclass
class SentenceWords:
    tokens: torch.Tensor  # <s> pieces </s>, cut to the model's length limit
    subwords: List[List[int]]  # per chunk: positions of its non-punctuation pieces ([] if none fit)
    words: List[Optional[str]]  # per chunk: its word, or None

    def keyed(self) -> List[int]:
        """Chunks that have a word: the sentence as a word aligner sees it."""
        return [i for i, word in enumerate(self.words) if word is not None]


def encode_sentence_words(
    vocab: Vocabulary, text: str, lang: str, punctuation: torch.Tensor, max_tokens: int, lowercase: bool = True
) -> SentenceWords:
    parts = chunks(text, lang)
    tokens, first = vocab.encode_words(parts, lang)
    ends = [*first[1:].tolist(), len(tokens) - 1]
    if len(tokens) > max_tokens:  # keep </s>; words past the limit get no subwords
        tokens = torch.cat([tokens[: max_tokens - 1], tokens[-1:]])
    limit = len(tokens) - 1
    subwords = []
    for start, end in zip(first.tolist(), ends):
        positions = [p for p in range(start, min(end, limit)) if not punctuation[tokens[p]]]
        if not positions and end <= limit:  # a word of punctuation-like pieces only keeps them all
            positions = list(range(start, end))
        subwords.append(positions)
    words = [word_of(part, lowercase) for part in parts]
    return SentenceWords(tokens, subwords, [w if s else None for w, s in zip(words, subwords)])

