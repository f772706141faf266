"""Universal Dependencies CoNLL-U (v2.x): ten tab-separated columns per word; comment
lines (``#``), multiword-token lines (``1-2``) and empty nodes (``1.1``) are skipped;
sentences end at blank lines."""

from typing import List

from fairseq_ext.transfer.examples import ParsedSentence
from fairseq_ext.transfer.formats.lines import FormatError, line_blocks

COLUMNS = 10
ID, FORM, HEAD, DEPREL = 0, 1, 6, 7


def read_conllu(path, universal_relations: bool = True) -> List[ParsedSentence]:
    """Sentences of ``path``. With ``universal_relations`` a relation's language-specific
    subtype is dropped (``nsubj:pass`` -> ``nsubj``), as in the CoNLL 2018 LAS, so the
    label set is the same across languages."""
    sentences = []
    for block in line_blocks(path):
        words = [(number, line.split("\t")) for number, line in block if not line.startswith("#")]
        for number, fields in words:
            if len(fields) != COLUMNS:
                raise FormatError(path, number, f"{len(fields)} tab-separated columns, CoNLL-U has {COLUMNS}")
        # multiword tokens and empty nodes are not words of the basic tree
        words = [(number, fields) for number, fields in words if "-" not in fields[ID] and "." not in fields[ID]]
        for position, (number, fields) in enumerate(words, start=1):
            if fields[ID] != str(position):
                raise FormatError(path, number, f"word ID {fields[ID]!r}, expected {position}")
            if not fields[HEAD].isdigit():
                raise FormatError(path, number, f"HEAD {fields[HEAD]!r} is not a word index")
            if int(fields[HEAD]) > len(words):
                raise FormatError(path, number, f"HEAD {fields[HEAD]} is beyond the sentence's {len(words)} words")
            if fields[DEPREL] in ("", "_"):
                raise FormatError(path, number, "empty DEPREL")
        if words:
            sentences.append(ParsedSentence(
                words=tuple(fields[FORM] for _, fields in words),
                heads=tuple(int(fields[HEAD]) for _, fields in words),
                relations=tuple(
                    fields[DEPREL].split(":")[0] if universal_relations else fields[DEPREL] for _, fields in words
                ),
            ))
    if not sentences:
        raise ValueError(f"{path} holds no sentences")
    return sentences
