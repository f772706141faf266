"""BIO-tagged NER in CoNLL column layout: CoNLL-2003 (``token POS chunk NER``, with
``-DOCSTART-`` lines), WikiAnn (``en:token<TAB>tag``; pass ``token_prefix="en:"``) and
``token<TAB>tag`` files such as the People's Daily stand-in. The token is the first
column and the tag the last; sentences end at blank lines. Columns are split at tabs
when a line has one, else at whitespace.

Two tagging schemes are in use. In IOB2 (WikiAnn, most redistributions) every entity
opens with ``B-``. In IOB1 (CoNLL-2003 as distributed) ``I-X`` opens an entity unless it
continues one of type X, and ``B-X`` only separates two adjacent entities of type X. The
scheme is told from the file: an IOB1 file is converted to IOB2 on reading (and the log
says so), because the tagging head's BIO repair reads its tags as IOB2 and would merge
adjacent entities of different types. A file that uses both is refused.
"""

import logging
import re
from typing import Dict, List, Optional, Tuple

from fairseq_ext.transfer.examples import TaggedSentence
from fairseq_ext.transfer.formats.lines import FormatError, line_blocks

logger = logging.getLogger(__name__)

TAG = re.compile(r"^(O|[BI]-\S+)$")
DOCUMENT_START = "-DOCSTART-"
DROP = "O"  # a label_map value that removes the entity type

Row = Tuple[int, str, str]  # line number, token, tag


def read_bio(path, token_prefix: str = "", label_map: Optional[Dict[str, str]] = None) -> List[TaggedSentence]:
    """Sentences of ``path`` in IOB2; ``label_map`` renames entity types (a type mapped to
    ``"O"`` is dropped, and a type missing from a non-empty map is an error, so nothing is
    lost silently)."""
    blocks = []
    for block in line_blocks(path):
        rows = [_token_and_tag(path, number, line, token_prefix) for number, line in block]
        rows = [row for row in rows if row is not None]
        if rows:
            blocks.append(rows)
    if not blocks:
        raise ValueError(f"{path} holds no sentences")
    if _is_iob1(path, blocks):
        logger.info("%s: IOB1 tags (I- opens an entity, as in CoNLL-2003 as distributed): converted to IOB2", path)
        blocks = [_iob1_to_iob2(rows) for rows in blocks]
    sentences = []
    for rows in blocks:
        words = tuple(token for _, token, _ in rows)
        tags = tuple(_mapped(path, number, tag, label_map) for number, _, tag in rows)
        sentences.append(TaggedSentence(words, tags))
    return sentences


def _token_and_tag(path, number: int, line: str, token_prefix: str) -> Optional[Row]:
    """(line number, token, tag) of one line, or None for a document marker."""
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
    return number, token, tag


def _opens_entity(previous: str, tag: str) -> bool:
    """Whether ``tag`` (B- or I-) follows anything but a tag of its own entity type."""
    return previous == "O" or previous[2:] != tag[2:]


def _is_iob1(path, blocks: List[List[Row]]) -> bool:
    """True for IOB1, False for IOB2 (or a file whose tags read the same in both)."""
    first_i = first_b = None  # line of the first entity opened by I- (IOB1) and by B- (IOB2)
    for rows in blocks:
        previous = "O"
        for number, _, tag in rows:
            if tag != "O" and _opens_entity(previous, tag):
                if tag[0] == "I" and first_i is None:
                    first_i = number
                if tag[0] == "B" and first_b is None:
                    first_b = number
            previous = tag
    if first_i is not None and first_b is not None:
        raise FormatError(
            path, first_b,
            f"B- opens an entity here (IOB2), but I- opens one at line {first_i} (IOB1): "
            "the tagging scheme cannot be told; write the file in one scheme",
        )
    return first_i is not None


def _iob1_to_iob2(rows: List[Row]) -> List[Row]:
    converted, previous = [], "O"
    for number, token, tag in rows:
        if tag[0] == "I" and _opens_entity(previous, tag):
            tag = "B" + tag[1:]
        converted.append((number, token, tag))
        previous = tag
    return converted


def _mapped(path, number: int, tag: str, label_map: Optional[Dict[str, str]]) -> str:
    if not label_map or tag == "O":
        return tag
    entity_type = tag[2:]
    if entity_type not in label_map:
        raise FormatError(path, number, f"entity type {entity_type!r} is not in data.label_map {sorted(label_map)}")
    return "O" if label_map[entity_type] == DROP else f"{tag[:2]}{label_map[entity_type]}"
