"""Reading the analysis inputs, with errors that name the file and line.

Contract (written by the corpus pipeline, ``preprocess/evalsets.py``; users can supply
the same formats, e.g. Tatoeba as two line-aligned files and MUSE dictionaries):

- ``EVAL/parallel/<set>/<lang>-en.<lang>`` and ``.en``: line-aligned sentences;
  ``<set>_train`` is a disjoint set for learning maps; ``bible_nt/en2-en.en2``: English′.
- ``EVAL/dictionaries/en-<lang>.{train,test}.txt``: ``english_word other_word`` per line
  (space or tab), several lines per word for several translations. The test split holds
  the most frequent English words (MUSE's rule; the pipeline makes it).
- monolingual text: one sentence per line; blank lines (the pipeline's document breaks)
  are skipped.
"""

from itertools import islice
from pathlib import Path
from typing import List, Optional, Tuple


def parallel_paths(eval_dir, set_name: str, lang: str) -> Tuple[Path, Path]:
    folder = Path(eval_dir) / "parallel" / set_name
    return folder / f"{lang}-en.{lang}", folder / f"{lang}-en.en"


def dictionary_path(eval_dir, lang: str, split: str) -> Path:
    return Path(eval_dir) / "dictionaries" / f"en-{lang}.{split}.txt"


def _require(path: Path, what: str) -> Path:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} ({what}) does not exist")
    return Path(path)


def read_sentences(path, what: str = "sentences, one per line", limit: Optional[int] = None) -> List[str]:
    """Lines of a line-aligned file (at most ``limit``); an empty line is an error naming it,
    since dropping it would shift the alignment."""
    path = _require(path, what)
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\r\n") for line in islice(f, limit)]
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise ValueError(f"{path}:{number}: empty line ({what} need text on every line)")
    if not lines:
        raise ValueError(f"{path} is empty ({what})")
    return lines


def read_text(path, limit: Optional[int] = None) -> List[str]:
    """The first ``limit`` non-blank lines of a monolingual text."""
    path = _require(path, "monolingual text, one sentence per line")
    with open(path, encoding="utf-8") as f:
        lines = list(islice((line.strip() for line in f if line.strip()), limit))
    if not lines:
        raise ValueError(f"{path} holds no text")
    return lines


def read_parallel(target_path, english_path, limit: Optional[int] = None) -> Tuple[List[str], List[str]]:
    """Line-aligned (target, English) sentences; files of different lengths are an error."""
    what = "parallel sentences, line-aligned"
    target, english = read_sentences(target_path, what), read_sentences(english_path, what)
    if len(target) != len(english):
        raise ValueError(
            f"{target_path} has {len(target)} lines but {english_path} has {len(english)}: "
            "parallel files must be line-aligned"
        )
    return target[:limit], english[:limit]


def read_dictionary(path) -> List[Tuple[str, str]]:
    """MUSE-format word pairs ``(english, other)``; blank lines are skipped."""
    path = _require(path, "bilingual dictionary, MUSE format")
    pairs = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2:
                raise ValueError(
                    f"{path}:{number}: expected 'source_word target_word' (two fields separated by a "
                    f"space or tab), got {line.rstrip()!r}"
                )
            pairs.append((fields[0], fields[1]))
    if not pairs:
        raise ValueError(f"{path} holds no word pair")
    return pairs
