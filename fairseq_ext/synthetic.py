"""Small synthetic corpora in the real on-disk layout, for tests, benchmarks and smoke runs.

Each language has its own words (so no anchor points), drawn from a Zipf distribution
that a masked LM learns quickly; the text is binarized by the real fairseq-preprocess.
"""

import os
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np


def language_words(lang: str, n: int = 60) -> List[str]:
    """Disjoint word lists per language: no string is shared, so no anchor points."""
    return [f"{lang}{i}" for i in range(n)]


def write_text(path: Path, words: Sequence[str], lines: int, seed: int) -> None:
    """Zipf-distributed words, 5-20 per line: an MLM can learn the unigram skew fast."""
    rng = np.random.default_rng(seed)
    probs = 1.0 / np.arange(1, len(words) + 1)
    probs /= probs.sum()
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(lines):
            f.write(" ".join(rng.choice(words, size=rng.integers(5, 21), p=probs)) + "\n")


def make_data(root: Path, sizes: Dict[str, Tuple[int, int]], layout: str = "folders") -> Path:
    """Write, then binarize with fairseq-preprocess, {lang: (train_lines, valid_lines)}.

    One shared dict.txt (the union of the languages' words), and per-language splits in
    sub-folders (``layout="folders"``) or as ``train.<lang>`` prefixes (``"prefixes"``).
    """
    raw, data = root / "raw", root / "bin"
    raw.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    with open(data / "dict.txt", "w", encoding="utf-8") as f:
        for lang in sizes:
            for word in language_words(lang):
                f.write(f"{word} 1\n")
    for i, (lang, (n_train, n_valid)) in enumerate(sizes.items()):
        write_text(raw / f"{lang}.train", language_words(lang), n_train, seed=10 * i)
        write_text(raw / f"{lang}.valid", language_words(lang), n_valid, seed=10 * i + 1)
        dest = data / lang if layout == "folders" else root / f"tmp_{lang}"
        binarize(data / "dict.txt", raw / f"{lang}.train", raw / f"{lang}.valid", dest)
        if layout == "prefixes":
            for split in ("train", "valid"):
                for ext in ("bin", "idx"):
                    os.replace(dest / f"{split}.{ext}", data / f"{split}.{lang}.{ext}")
    return data


def binarize(dictionary: Path, train_text: Path, valid_text: Path, dest: Path) -> None:
    """fairseq-preprocess one language's train and valid text with a fixed dict.txt."""
    from fairseq import options
    from fairseq_cli import preprocess

    args = options.get_preprocessing_parser().parse_args(
        [
            "--only-source",
            "--srcdict", str(dictionary),
            "--trainpref", str(train_text),
            "--validpref", str(valid_text),
            "--destdir", str(dest),
            "--workers", "1",
        ]
    )
    preprocess.main(args)
