"""``label<TAB>text`` per line: the offline classification stand-ins (LibreOffice help
module, Bible book genre) written by the corpus pipeline as
``EVAL/classification/<task>/<lang>.<split>.tsv``."""

from typing import List

from fairseq_ext.transfer.examples import TextExample
from fairseq_ext.transfer.formats.lines import FormatError, numbered_lines


def read_labelled_tsv(path) -> List[TextExample]:
    examples = []
    for number, line in numbered_lines(path):
        if not line.strip():
            continue  # blank lines carry nothing (e.g. a trailing one)
        label, tab, text = line.partition("\t")
        if not tab:
            raise FormatError(path, number, "expected 'label<TAB>text', found no tab")
        if not label.strip() or not text.strip():
            raise FormatError(path, number, "empty label or text in 'label<TAB>text'")
        examples.append(TextExample(texts=(text.strip(),), label=label.strip()))
    if not examples:
        raise ValueError(f"{path} holds no examples")
    return examples
