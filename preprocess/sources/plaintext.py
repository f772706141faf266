"""Plain text files (optionally .gz/.bz2/.xz): one paragraph per line, a blank line between documents."""

from collections import Counter
from pathlib import Path
from typing import Iterator, List

from tqdm import tqdm

from preprocess.sources.files import binary_lines, decode
from preprocess.textio import Unit


def read_text(paths: List[Path], counts: Counter) -> Iterator[Unit]:
    for path in paths:
        docno, in_doc = 0, False
        for lineno, line in tqdm(binary_lines(path), desc=f"text {path.name}", unit=" lines", disable=None):
            text = decode(line).strip()
            if not text:
                docno += in_doc
                in_doc = False
                continue
            in_doc = True
            counts["lines"] += 1
            doc = f"{path.name}:{docno}"
            yield Unit(doc, f"{path.name}:{lineno}", "", text)
