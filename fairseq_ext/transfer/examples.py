"""What the dataset readers produce: one dataclass per kind of annotation."""

from dataclasses import dataclass
from typing import Tuple


@dataclass(frozen=True)
class TextExample:
    """A text (or a sentence pair, as in NLI) with its class label."""

    texts: Tuple[str, ...]
    label: str


@dataclass(frozen=True)
class TaggedSentence:
    """Words with one BIO tag each (NER)."""

    words: Tuple[str, ...]
    tags: Tuple[str, ...]


@dataclass(frozen=True)
class ParsedSentence:
    """Words with their dependency heads (0 = root, else a 1-based word index) and relations."""

    words: Tuple[str, ...]
    heads: Tuple[int, ...]
    relations: Tuple[str, ...]
