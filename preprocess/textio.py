"""The two text formats the stages exchange.

- **Units** (``.tsv``): ``doc<TAB>key<TAB>label<TAB>text`` per line, one paragraph (or verse)
  per line, the lines of a document consecutive. ``key`` identifies a unit across
  languages in translated corpora (``40.5.9`` for Matthew 5:9, ``text/swriter/x.html#par_id1``
  for a LibreOffice help paragraph); ``label`` is a class for the evaluation tasks.
- **Documents** (plain text): one paragraph per line, a blank line between documents; what
  sentencepiece and fairseq-preprocess read.
"""

from pathlib import Path
from typing import Iterable, Iterator, List, NamedTuple


class Unit(NamedTuple):
    doc: str
    key: str
    label: str
    text: str


def _field(value: str) -> str:
    return " ".join(value.split())  # no tab or newline can survive into a field


def write_units(path: Path, units: Iterable[Unit]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for unit in units:
            line = "\t".join(_field(v) for v in unit) + "\n"
            try:
                f.write(line)
            except UnicodeEncodeError as error:  # a reader let through text UTF-8 cannot hold
                raise ValueError(
                    f"{path}: unit {unit.key} (from {unit.doc}) is not encodable as UTF-8: {error.reason}"
                ) from None
            n += 1
    return n


def read_units(path: Path) -> Iterator[Unit]:
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4:
                raise ValueError(f"{path}:{lineno}: expected 4 tab-separated fields (doc, key, label, text)")
            yield Unit(*parts)


def read_documents(path: Path) -> Iterator[List[str]]:
    """The documents of a plain-text file, each a list of non-empty lines."""
    doc: List[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                doc.append(line)
            elif doc:
                yield doc
                doc = []
    if doc:
        yield doc


class DocumentWriter:
    """Writes documents one at a time, a blank line between them, and counts them."""

    def __init__(self, path: Path):
        self.file = open(path, "w", encoding="utf-8")
        self.report = {"documents": 0, "lines": 0, "chars": 0}

    def write(self, doc: List[str]) -> None:
        if self.report["documents"]:
            self.file.write("\n")
        self.file.write("".join(line + "\n" for line in doc))
        self.report["documents"] += 1
        self.report["lines"] += len(doc)
        self.report["chars"] += sum(len(line) for line in doc)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()
        return False


def write_documents(path: Path, docs: Iterable[List[str]]) -> dict:
    with DocumentWriter(path) as writer:
        for doc in docs:
            writer.write(doc)
    return writer.report


def count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))
