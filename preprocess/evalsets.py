"""Evaluation files from the units reserved for evaluation (see :mod:`preprocess.splits`).

Under ``EVAL/``, for other stages (zero-shot transfer, alignment, CKA) to read:

- ``parallel/<name>/<lang>-en.<lang>`` and ``.en``: line-aligned sentences; the same keys
  for every language, so all pairs hold the same content; ``parallel/<name>_train/``: a
  disjoint set for learning maps; ``parallel/bible_nt/en2-en.en2`` + ``.en``: a second
  English translation of the same verses;
- ``classification/<task>/<lang>.<split>.tsv``: ``label<TAB>text``; train in English,
  dev and test in every language (the same units in each), documents disjoint across splits
  (a target-language dev set is for looking, not for choosing: zero-shot selects on English);
- ``dictionaries/en-<lang>.{train,test}.txt``: MUSE-format word pairs (``en other``); test
  holds the pairs of the most frequent English pretraining words a dictionary covers;
- ``ner/zh.test.conll``: ``word<TAB>BIO tag`` lines, a blank line between sentences.
"""

import re
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np

from preprocess.config import EvalConfig
from preprocess.sources.bible import FIRST_NT_BOOK
from preprocess.splits import fraction, is_reserved
from preprocess.textio import Unit, read_documents, read_units

# source -> (parallel set name, classification task name)
EVAL_NAMES = {"bible": ("bible_nt", "bible_genre"), "libreoffice": ("libreoffice_test", "libreoffice_module")}
_EN_WORD = re.compile(r"[a-z]+(?:['-][a-z]+)*")


def _reserved_units(path: Path, source: str, cfg: EvalConfig) -> Dict[str, Unit]:
    return {u.key: u for u in read_units(path) if is_reserved(source, u.doc, cfg)}


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)


def _pick(keys: List[str], n: int, rng: np.random.Generator) -> List[str]:
    return [keys[i] for i in sorted(rng.permutation(len(keys))[:n])]


def _classification_split(doc: str, cfg: EvalConfig) -> str:
    f = fraction("classification", doc)
    train, dev, _ = cfg.classification_shares
    return "train" if f < train else "dev" if f < train + dev else "test"


def write_aligned_eval(
    source: str,
    clean: Dict[str, Path],
    parallel_dirs: Tuple[Path, Path],
    classification_dir: Path,
    cfg: EvalConfig,
    sizes: Dict[str, int],
    second_english: Optional[Path] = None,
) -> dict:
    """Parallel and classification sets of one translated corpus (``clean``: lang -> units)."""
    langs = list(clean)
    units = {lang: _reserved_units(path, source, cfg) for lang, path in clean.items()}
    english = units["en"]
    common = sorted(set.intersection(*(set(u) for u in units.values())), key=lambda k: [english[k].doc, k])
    long_enough = [k for k in common if len(english[k].text.split()) >= cfg.parallel_min_words]
    rng = np.random.default_rng(cfg.seed)
    report: Dict[str, dict] = {"reserved_units": {lang: len(u) for lang, u in units.items()}, "aligned": len(common)}

    # parallel: New Testament verses / held-out help paragraphs present in every language
    pool = [k for k in long_enough if source != "bible" or int(k.split(".")[0]) >= FIRST_NT_BOOK]
    order = rng.permutation(len(pool))
    n_test, n_train = sizes["parallel_test"], sizes["parallel_train"]
    test = [pool[i] for i in sorted(order[:n_test])]
    train = [pool[i] for i in sorted(order[n_test : n_test + n_train])]
    for out, keys in zip(parallel_dirs, (test, train)):
        out.mkdir(parents=True)
        for lang in langs[1:]:
            _write_lines(out / f"{lang}-en.{lang}", (units[lang][k].text for k in keys))
            _write_lines(out / f"{lang}-en.en", (english[k].text for k in keys))
        report[out.name.removesuffix(".tmp")] = {"pairs": len(keys)}
    if second_english is not None:
        english2 = _reserved_units(second_english, source, cfg)
        keys = [k for k in test if k in english2]
        _write_lines(parallel_dirs[0] / "en2-en.en2", (english2[k].text for k in keys))
        _write_lines(parallel_dirs[0] / "en2-en.en", (english[k].text for k in keys))
        report["en2_pairs"] = len(keys)

    # classification: whole documents per split, the same test units in every language
    by_split = {split: [k for k in long_enough if _classification_split(english[k].doc, cfg) == split]
                for split in ("train", "dev", "test")}
    classes = Counter()
    for split, langs_of_split in (("train", ["en"]), ("dev", langs), ("test", langs)):
        keys = _pick(by_split[split], sizes[f"classification_{split}"], rng)
        classes.update(english[k].label for k in keys)
        for lang in langs_of_split:
            _write_lines(
                classification_dir / f"{lang}.{split}.tsv",
                (f"{units[lang][k].label}\t{units[lang][k].text}" for k in keys),
            )
        report[f"classification_{split}"] = len(keys)
    report["labels"] = dict(classes)
    return report


def english_word_counts(paths: Iterable[Path]) -> Counter:
    counts = Counter()
    for path in paths:
        for doc in read_documents(path):
            for line in doc:
                counts.update(_EN_WORD.findall(line.lower()))
    return counts


def write_dictionaries(
    pairs: Dict[str, List[Tuple[str, str]]], english_text: List[Path], dest: Path, test_words: int
) -> dict:
    """MUSE-style splits of each language's ``(english, other)`` pairs."""
    frequency = english_word_counts(english_text)
    dest.mkdir(parents=True)
    report = {}
    for lang, lang_pairs in pairs.items():
        if not lang_pairs:
            raise ValueError(f"the dictionaries of '{lang}' hold no single-word pair with English")
        covered = {en for en, _ in lang_pairs if frequency[en] > 0}
        test = set(sorted(covered, key=lambda w: (-frequency[w], w))[:test_words])
        _write_lines(dest / f"en-{lang}.test.txt", (f"{en} {xx}" for en, xx in lang_pairs if en in test))
        _write_lines(dest / f"en-{lang}.train.txt", (f"{en} {xx}" for en, xx in lang_pairs if en not in test))
        report[lang] = {
            "pairs": len(lang_pairs),
            "test_words": len(test),
            "test_pairs": sum(en in test for en, _ in lang_pairs),
            "train_pairs": sum(en not in test for en, _ in lang_pairs),
        }
    return report


def write_ner(sentences: Iterable[List[Tuple[str, str]]], dest: Path, n: int, seed: int) -> dict:
    """A seeded sample of ``n`` sentences (with at least one entity) in CoNLL format."""
    with_entities = [s for s in sentences if any(tag != "O" for _, tag in s)]
    chosen = sorted(np.random.default_rng(seed).permutation(len(with_entities))[:n])
    entities = Counter()
    with open(dest, "w", encoding="utf-8") as f:
        for i in chosen:
            for word, tag in with_entities[i]:
                f.write(f"{word}\t{tag}\n")
                if tag.startswith("B-"):
                    entities[tag[2:]] += 1
            f.write("\n")
    return {"sentences": len(chosen), "available": len(with_entities), "entities": dict(entities)}
