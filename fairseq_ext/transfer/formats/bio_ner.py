"""BIO-tagged NER in CoNLL column layout: CoNLL-2003 (``token POS chunk NER``, with
``-DOCSTART-`` lines), WikiAnn (``en:token<TAB>tag``; pass ``token_prefix="en:"``) and
``token<TAB>tag`` files such as the People's Daily stand-in. The token is the first
column and the tag the last; sentences end at blank lines. Columns are split at tabs
when a line has one, else at whitespace.
"""

import re
from typing import Dict, List, Optional

from fairseq_ext.transfer.examples import TaggedSentence
from fairseq_ext.transfer.formats.lines import FormatError, line_blocks

TAG = re.compile(r"^(O|[BI]-\S+)$")
DOCUMENT_START = "-DOCSTART-"
DROP = "O"  # a label_map value that removes the entity type


def read_bio(path, token_prefix: str = "", label_map: Optional[Dict[str, str]] = None) -> List[TaggedSentence]:
    """Sentences of ``path``; ``label_map`` renames entity types (a type mapped to ``"O"``
    is dropped, and a type missing from a non-empty map is an error, so nothing is lost
    silently)."""
    sentences = []
    for block in line_blocks(path):
        rows = [_token_and_tag(path, number, line, token_prefix, label_map) for number, line in block]
        rows = [row for row in rows if row is not None]
        if rows:
            words, tags = zip(*rows)
            sentences.append(TaggedSentence(words, tags))
    if not sentences:
        raise ValueError(f"{path} holds no sentences")
    return sentences


def _token_and_tag(path, number: int, line: str, token_prefix: str, label_map):
    """(token, tag) of one line, or None for a document marker."""
    fields = line.split("\t") if "\t" in line else line.split()
    if fields[0] == DOCUMENT_START:
        return None
    if len(fields) < 2:
        raise FormatError(path, number, f"expected a token and a tag, found {line!r}")
    token, tag = fields[0], fields[-1].strip()
    if not TAG.match(tag):
        raise FormatError(path, number, f"tag {tag!r} is not BIO (O, B-TYPE or I-TYPE)")
    if token_prefix:
        if not token.startswith(token_prefix):
            raise FormatError(path, number, f"token {token!r} lacks the prefix {token_prefix!r}")
        token = token[len(token_prefix) :]
    if not token:
        raise FormatError(path, number, "empty token")
    if label_map and tag != "O":
        entity_type = tag[2:]
        if entity_type not in label_map:
            raise FormatError(path, number, f"entity type {entity_type!r} is not in data.label_map {sorted(label_map)}")
        tag = "O" if label_map[entity_type] == DROP else f"{tag[:2]}{label_map[entity_type]}"
    return token, tag
