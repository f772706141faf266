"""Who gets which text: evaluation reservations, language shares, held-out documents.

Every decision is a function of a unit's key or document id (a salted hash), so the
extraction, evaluation and split stages agree without sharing state, and reruns give the
same splits.

- **Reserved for evaluation** (never pretrained on): a share of New Testament chapters (by
  default all of them) and a share of Old Testament chapters; a share of LibreOffice help
  pages. The evaluation files are drawn from these only (:mod:`preprocess.evalsets`).
- **Disjoint content**: in a translated corpus each document goes to one language, so the
  languages' pretraining text is comparable but not parallel.
- **Held-out documents**: a share of documents goes to valid and test.
- **Decontamination**: a pretraining line identical to any evaluation sentence is dropped.
"""

import hashlib
from collections import Counter
from contextlib import ExitStack
from itertools import groupby
from pathlib import Path
from typing import Iterable, Iterator, List, Set, Tuple

import numpy as np

from preprocess.config import ALIGNED_SOURCES, EvalConfig, PretrainConfig
from preprocess.sources.bible import FIRST_NT_BOOK
from preprocess.textio import DocumentWriter, Unit, read_units

SPLITS = ("train", "valid", "test")


def fraction(salt: str, value: str) -> float:
    """A stable pseudo-random number in [0, 1) for ``value``."""
    digest = hashlib.blake2b(f"{salt}\0{value}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def is_reserved(source: str, doc: str, cfg: EvalConfig) -> bool:
    if source == "bible":
        new_testament = int(doc.split(".")[0]) >= FIRST_NT_BOOK
        share = cfg.bible_heldout_nt_chapters if new_testament else cfg.bible_heldout_chapters
        return fraction("bible-eval", doc) < share
    if source == "libreoffice":
        return fraction("libreoffice-eval", doc) < cfg.libreoffice_heldout_files
    return False


def owner(doc: str, langs: List[str]) -> str:
    """The one language that pretrains on ``doc`` of a translated corpus."""
    return langs[int(fraction("owner", doc) * len(langs))]


def heldout_split(doc: str, cfg: PretrainConfig) -> str:
    f = fraction("heldout", doc)
    return "valid" if f < cfg.valid_docs else "test" if f < cfg.valid_docs + cfg.test_docs else "train"


def text_digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()


def eval_sentences(eval_dirs: Iterable[Path]) -> Set[bytes]:
    """Digests of every sentence of the evaluation files (parallel text and ``label<TAB>text``)."""
    digests = set()
    for root in eval_dirs:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    digests.add(text_digest(line.rstrip("\n").split("\t")[-1]))
    return digests


def documents(units: Iterable[Unit]) -> Iterator[Tuple[str, List[Unit]]]:
    for doc, group in groupby(units, key=lambda u: u.doc):
        yield doc, list(group)


def sample_docs(sizes: List[int], budget: int, rng: np.random.Generator) -> Set[int]:
    """Indices of documents, in random order, until ``budget`` lines are reached."""
    chosen, total = set(), 0
    for i in rng.permutation(len(sizes)):
        if total >= budget:
            break
        chosen.add(int(i))
        total += sizes[i]
    return chosen


def split_pretraining(
    src: Path,
    outputs: Tuple[Path, Path, Path],
    source: str,
    lang: str,
    langs: List[str],
    cfg: PretrainConfig,
    eval_cfg: EvalConfig,
    eval_dirs: List[Path],
    caps: Tuple[int, int, int],
) -> dict:
    contaminated = eval_sentences(eval_dirs)
    dropped = Counter()

    def usable_docs():
        for doc, units in documents(read_units(src)):
            if is_reserved(source, doc, eval_cfg):
                dropped["reserved_for_eval"] += len(units)
                continue
            if source in ALIGNED_SOURCES and cfg.disjoint_parallel_content and owner(doc, langs) != lang:
                dropped["given_to_another_language"] += len(units)
                continue
            kept = [u.text for u in units if text_digest(u.text) not in contaminated]
            dropped["same_as_an_eval_sentence"] += len(units) - len(kept)
            if kept:
                yield doc, kept

    # first pass: document sizes per split; second pass: write the sampled documents
    sizes = {split: [] for split in SPLITS}
    for doc, lines in usable_docs():
        sizes[heldout_split(doc, cfg)].append(len(lines))
    rng = np.random.default_rng(cfg.seed)
    chosen = {split: sample_docs(sizes[split], cap, rng) for split, cap in zip(SPLITS, caps)}
    for split in SPLITS:
        if not chosen[split]:
            raise ValueError(
                f"{src}: no '{lang}' document is left for the {split} split "
                f"({sum(len(s) for s in sizes.values())} documents usable; dropped lines: {dict(dropped)})"
            )
    dropped.clear()  # counted again in the second pass
    index = Counter()
    with ExitStack() as stack:
        writers = {split: stack.enter_context(DocumentWriter(out)) for split, out in zip(SPLITS, outputs)}
        for doc, lines in usable_docs():
            split = heldout_split(doc, cfg)
            if index[split] in chosen[split]:
                writers[split].write(lines)
            index[split] += 1
    report = {split: writers[split].report for split in SPLITS}
    report["dropped_lines"] = dict(dropped)
    return report
