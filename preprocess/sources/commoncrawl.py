"""Common Crawl as CCNet shards: ``*.json.gz``, one JSON document per line.

Each document has ``raw_content`` (its paragraphs, one per line) and ``language`` (CCNet's
fastText label). Documents of other languages, and lines that are not valid JSON or lack
``raw_content``, are skipped and counted.
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
            counts["documents"] += 1
            doc = f"{path.name}:{lineno}"
            for i, paragraph in enumerate(p for p in content.split("\n") if p.strip()):
                yield Unit(doc, f"{doc}.{i}", "", paragraph)
