"""Bilingual dictionaries in dictd format (``NAME.index`` + ``NAME.dict.dz``), from Debian.

- FreeDict ``eng-fra``, ``fra-eng``, ``eng-deu`` and ``deu-eng`` (``dict-freedict-*``): a headword line, then one
  numbered sense per line with comma-separated translations;
- Müller's English-Russian dictionary (``mueller7-dict``): a headword line, a transcription,
  then numbered senses ``1) дом; жилище`` mixed with English examples.

Only single-word translations are kept: the pairs are used as word-level anchors and as
MUSE-style evaluation dictionaries.
"""

import gzip
import re
from pathlib import Path
from typing import Iterator, Tuple

_B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
_PARENS = re.compile(r"\([^()]*\)|\[[^\]]*\]|<[^>]*>|/[^/]*/")
_SENSE_MARK = re.compile(r"(?:^|\s)(?:\d+[.)]|[а-яё]\))\s")
_LABEL = re.compile(r"_[^\s.]+\.")
_LATIN = re.compile(r"[A-Za-z]")
WORD = re.compile(r"^\w+(?:['-]\w+)*$")


def _b64(value: str) -> int:
    n = 0
    for ch in value:
        n = n * 64 + _B64[ch]
    return n


def read_dictd(base: Path) -> Iterator[Tuple[str, str]]:
    """``(headword, definition)`` of a dictd dictionary at ``base`` (without extension)."""
    index, data_path = base.with_name(base.name + ".index"), base.with_name(base.name + ".dict.dz")
    for p in (index, data_path):
        if not p.exists():
            raise FileNotFoundError(f"dictionary file {p} is missing: run the fetch stage")
    with gzip.open(data_path, "rb") as f:  # dictzip is gzip with random access we do not need
        data = f.read()
    with open(index, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3:
                raise ValueError(f"{index}:{lineno}: expected 'headword<TAB>offset<TAB>length'")
            head, offset, length = parts
            if head.startswith("00database"):
                continue
            start = _b64(offset)
            yield head, data[start : start + _b64(length)].decode("utf-8", errors="replace")


def _words(text: str) -> Iterator[str]:
    for item in re.split(r"[,;]", _PARENS.sub(" ", text)):
        item = " ".join(item.split()).lower()
        if len(item) > 1 and WORD.match(item) and not item.isdigit():  # letters are not words
            yield item


def _headword(head: str) -> str:
    head = head.strip().lower()
    return head if len(head) > 1 and WORD.match(head) else ""


def freedict_pairs(base: Path, english_first: bool) -> Iterator[Tuple[str, str]]:
    """``(english, other)`` pairs of a FreeDict dictionary (eng-xxx if ``english_first``)."""
    for head, body in read_dictd(base):
        head = _headword(head)
        if not head:
            continue
        for line in body.split("\n")[1:]:  # the first line repeats the headword
            for word in _words(re.sub(r"^\s*\d+\.\s*", "", line)):
                yield (head, word) if english_first else (word, head)


def mueller7_pairs(base: Path) -> Iterator[Tuple[str, str]]:
    """``(english, russian)``: per sense, the Russian words before the first English example."""
    for head, body in read_dictd(base):
        head = _headword(head)
        if not head or _LATIN.search(head) is None:
            continue
        text = _LABEL.sub(" ", _PARENS.sub(" ", " ".join(body.split("\n")[1:])))
        for sense in _SENSE_MARK.split(text):
            if "=" in sense:
                continue  # a cross-reference, not a translation
            for clause in sense.split(";"):
                if _LATIN.search(clause):
                    break  # English examples (and their translations) start here
                for word in _words(clause):
                    if re.match(r"^[а-яё-]+$", word):
                        yield head, word
