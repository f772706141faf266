"""Common Crawl as CCNet shards: ``*.json.gz``, one JSON document per line.

Each document has ``raw_content`` (its paragraphs, one per line) and ``language`` (CCNet's
fastText label). What cannot be used is skipped and counted, by reason:

- ``skipped_bad_json``: a line that is not valid JSON, or a record without ``raw_content``;
- ``skipped_other_language``: a document of another language;
- ``skipped_no_text``: a ``raw_content`` that is null or not a string;
- ``skipped_unencodable_paragraphs``: a paragraph holding a lone surrogate (an escape such as
  ``\\ud83d``, half of an emoji cut in two), which JSON accepts but UTF-8 cannot encode.
"""

import json
from collections import Counter
from pathlib import Path
from typing import Iterator, List

from tqdm import tqdm

from preprocess.sources.files import binary_lines, decode
from preprocess.textio import Unit


def read_ccnet(paths: List[Path], language: str, counts: Counter) -> Iterator[Unit]:
    for path in paths:
        for lineno, line in tqdm(binary_lines(path), desc=f"ccnet {path.name}", unit=" docs", disable=None):
            if not line.strip():
                continue
            try:
                record = json.loads(decode(line))
                content = record["raw_content"]
            except (json.JSONDecodeError, KeyError, TypeError):
                counts["skipped_bad_json"] += 1
                continue
            if record.get("language") != language:
                counts["skipped_other_language"] += 1
                continue
            if not isinstance(content, str):
                counts["skipped_no_text"] += 1
                continue
            counts["documents"] += 1
            doc = f"{path.name}:{lineno}"
            for i, paragraph in enumerate(p for p in content.split("\n") if p.strip()):
                if not _encodable(paragraph):
                    counts["skipped_unencodable_paragraphs"] += 1
                    continue
                yield Unit(doc, f"{doc}.{i}", "", paragraph)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
