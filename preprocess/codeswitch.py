"""Extra anchors: code-switch training text with bilingual dictionaries (the paper's §4.2).

Text is processed in batches of lines. In a batch, every word found in the dictionary is
picked with probability ``replace_prob`` (30%) and replaced by one of its translations;
if the picks exceed ``max_batch_share`` (15%) of the batch's words, a random subset of
that size is kept. English words are translated into the other languages (all of them,
as the procedure extends to several languages), other languages' words into English.

The paper draws translations from PanLex weighted by translation quality. The registry
dictionaries have no quality scores, so a translation is drawn with weight 1 + its
frequency in the target language's pretraining text: common translations win over rare
senses and obsolete characters. Chinese has no spaces: its words are found by forward
maximum matching on the dictionary.
"""

import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Collection, Dict, List, Tuple

import numpy as np
from tqdm import tqdm

from preprocess.textio import DocumentWriter, read_documents

_WORD = re.compile(r"\w+(?:['-]\w+)*")
_LATIN = re.compile(r"[A-Za-z]")


def word_spans(line: str, lang: str, vocabulary: Collection[str], longest: int) -> List[Tuple[int, int, bool]]:
    """``(start, end, in vocabulary)`` of the words of ``line`` (lower-cased lookup)."""
    if lang != "zh":
        return [(m.start(), m.end(), m.group().lower() in vocabulary) for m in _WORD.finditer(line)]
    spans, i = [], 0
    while i < len(line):  # forward maximum matching
        for j in range(min(len(line), i + longest), i, -1):
            if line[i:j] in vocabulary:
                spans.append((i, j, True))
                i = j
                break
        else:
            if line[i].isalnum():
                spans.append((i, i + 1, False))
            i += 1
    return spans


def word_counts(texts: Dict[str, Path], vocabulary: Collection[str]) -> Counter:
    """How often each word of ``vocabulary`` occurs in the texts (language -> file)."""
    counts = Counter()
    longest = max((len(w) for w in vocabulary), default=1)
    for lang, path in texts.items():
        for doc in read_documents(path):
            for line in doc:
                counts.update(line[s:e].lower() for s, e, known in word_spans(line, lang, vocabulary, longest) if known)
    return counts


class Translator:
    def __init__(self, table: Dict[str, List[str]], target_counts: Counter):
        self.table = table
        self.longest = max((len(w) for w in table), default=1)
        self.weights = {}
        for word, translations in table.items():
            weights = np.array([1.0 + target_counts[t] for t in translations])
            self.weights[word] = weights / weights.sum()

    def translate(self, word: str, rng: np.random.Generator) -> str:
        key = word.lower()  # dictionary words are lower-cased (a no-op for Chinese)
        return self.table[key][rng.choice(len(self.table[key]), p=self.weights[key])]


def load_table(dictionary_dir: Path, lang: str, langs: List[str], parts: Tuple[str, ...]) -> Dict[str, List[str]]:
    """``word -> translations`` from the MUSE-format dictionaries (``parts``: train, test)."""
    table = defaultdict(list)
    for other in langs[1:]:
        if lang not in ("en", other):
            continue
        for part in parts:
            path = dictionary_dir / f"en-{other}.{part}.txt"
            if not path.exists():
                raise FileNotFoundError(f"{path} is missing: extra anchors for '{lang}' need an en-{other} dictionary")
            with open(path, encoding="utf-8") as f:
                for line in f:
                    en, xx = line.split()
                    src, tgt = (en, xx) if lang == "en" else (xx, en)
                    if tgt not in table[src]:
                        table[src].append(tgt)
    if not table:
        raise ValueError(f"no dictionary pair to code-switch '{lang}' text with")
    return dict(table)


def _switch_batch(batch: List[List[str]], lang: str, translator: Translator, cfg, rng, counts: Counter):
    lines = [
        (d, i, line, word_spans(line, lang, translator.table, translator.longest))
        for d, doc in enumerate(batch)
        for i, line in enumerate(doc)
    ]
    words = sum(len(spans) for *_, spans in lines)
    candidates = [(n, s) for n, (*_, spans) in enumerate(lines) for s in spans if s[2]]
    picked = [c for c in candidates if rng.random() < cfg.replace_prob]
    cap = int(cfg.max_batch_share * words)
    if len(picked) > cap:
        counts["batches_capped"] += 1
        picked = [picked[i] for i in sorted(rng.choice(len(picked), size=cap, replace=False))]
    counts.update(words=words, in_dictionary=len(candidates), replaced=len(picked))
    by_line = defaultdict(list)
    for n, span in picked:
        by_line[n].append(span)
    out = [list(doc) for doc in batch]
    for n, spans in by_line.items():
        d, i, line, _ = lines[n]
        for start, end, _ in sorted(spans, reverse=True):
            word = translator.translate(line[start:end], rng)
            if lang == "zh" and _LATIN.search(word):
                word = f" {word} "  # keep Latin words apart in unspaced text
            line = line[:start] + word + line[end:]
        out[d][i] = " ".join(line.split())
    return out


def code_switch(src: Path, dest: Path, lang: str, table: Dict[str, List[str]], target_texts: Dict[str, Path], cfg) -> dict:
    """Code-switch ``src`` (language ``lang``) into ``dest``; ``target_texts``: the translations' languages' text."""
    targets = {t for translations in table.values() for t in translations}
    translator = Translator(table, word_counts(target_texts, targets))
    rng = np.random.default_rng(cfg.seed)
    counts = Counter()
    with DocumentWriter(dest) as writer:
        batch, batch_lines = [], 0
        for doc in tqdm(read_documents(src), desc=f"code-switch {lang}", unit=" docs", disable=None):
            batch.append(doc)
            batch_lines += len(doc)
            if batch_lines >= cfg.batch_lines:
                for out in _switch_batch(batch, lang, translator, cfg, rng, counts):
                    writer.write(out)
                batch, batch_lines = [], 0
        if batch:
            for out in _switch_batch(batch, lang, translator, cfg, rng, counts):
                writer.write(out)
    report = dict(counts)
    report["replaced_share"] = round(counts["replaced"] / max(1, counts["words"]), 4)
    report["dictionary_words"] = len(table)
    return report
