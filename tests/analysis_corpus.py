"""A synthetic language pair with a known alignment, in the corpus pipeline's layout, and
tiny models trained on it (for the analysis tests).

English sentences come from a Markov chain over invented words (each word has a few
likely successors), so a masked LM learns word contexts. The other language ("ru") is
the same chain with every word spelled in Cyrillic letter for letter: a relabelling, so
the two languages' spaces should be alignable by a rotation. Pretraining text of the two
languages is sampled independently (comparable, not parallel); evaluation sets are
translated word for word; the dictionary is the relabelling, split by frequency.
"""

import json
from collections import Counter
from pathlib import Path
from typing import Dict, List

import numpy as np

from fairseq_ext.synthetic import binarize
from helpers import tiny_train_args, train, train_spm, write_dict

CYRILLIC = dict(zip("abdegiklmnoprstuvz", "абдегиклмнопрстувз"))
N_WORDS = 150


def invent_words(n: int, rng) -> List[str]:
    consonants, vowels = "bdgklmnprstvz", "aeiou"
    words = set()
    while len(words) < n:
        syllables = rng.integers(1, 4)
        words.add("".join(rng.choice(list(consonants)) + rng.choice(list(vowels)) for _ in range(syllables)))
    return sorted(words)


def to_cyrillic(text: str) -> str:
    return "".join(CYRILLIC.get(ch, ch) for ch in text)


class MarkovLanguage:
    def __init__(self, seed: int = 0, successors: int = 4):
        rng = np.random.default_rng(seed)
        self.words = invent_words(N_WORDS, rng)
        self.start = 1.0 / np.arange(1, N_WORDS + 1)
        self.start /= self.start.sum()
        self.next_words = np.stack([rng.choice(N_WORDS, successors, replace=False) for _ in range(N_WORDS)])
        self.next_probs = rng.dirichlet(np.ones(successors), size=N_WORDS)

    def sentences(self, n: int, seed: int) -> List[str]:
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(n):
            word = rng.choice(N_WORDS, p=self.start)
            ids = [word]
            for _ in range(rng.integers(5, 11)):
                word = self.next_words[word][rng.choice(len(self.next_probs[word]), p=self.next_probs[word])]
                ids.append(word)
            text = " ".join(self.words[i] for i in ids)
            out.append(text[0].upper() + text[1:] + ".")  # case and punctuation, as in real text
        return out


def _write(path: Path, lines: List[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def data_folder(root: Path, texts: Dict[str, Dict[str, List[str]]], vocab_size: int) -> Path:
    """A joint-vocabulary data folder (dict.txt, vocab.json, spm.model, <lang>/train|valid)."""
    root.mkdir(parents=True)
    sp = train_spm(root / "spm", [s for lang in texts for s in texts[lang]["train"]], vocab_size)
    write_dict(root / "dict.txt", [sp.id_to_piece(i) for i in range(3, sp.get_piece_size())])
    (root / "vocab.json").write_text(json.dumps(
        {"setting": "joint", "langs": list(texts), "sentencepiece": {lang: "spm.model" for lang in texts}}
    ))
    for lang, splits in texts.items():
        encoded = {split: _write(root / "raw" / f"{lang}.{split}",
                                 [" ".join(sp.encode(s, out_type=str)) for s in lines]) for split, lines in splits.items()}
        binarize(root / "dict.txt", encoded["train"], encoded["valid"], root / lang)
    return root


def build(root: Path, updates: int) -> Dict[str, object]:
    """Text, EVAL files and three trained models: mono_en, mono_ru and bilingual en-ru."""
    language = MarkovLanguage()
    en = {"train": language.sentences(2000, 1), "valid": language.sentences(100, 2)}
    ru = {split: [to_cyrillic(s) for s in language.sentences(len(lines), seed + 10)]
          for seed, (split, lines) in enumerate(en.items(), 1)}
    # monolingual text as the pipeline writes it: documents separated by a blank line
    text = {lang: _write(root / "text" / f"{lang}.train", [line for i, s in enumerate(splits["train"])
                                                          for line in ([s, ""] if i % 100 == 99 else [s])])
            for lang, splits in (("en", en), ("ru", ru))}

    eval_dir = root / "EVAL"
    for name, n, seed in (("bible_nt", 120, 3), ("bible_nt_train", 300, 4)):
        english = language.sentences(n, seed)
        _write(eval_dir / "parallel" / name / "ru-en.en", english)
        _write(eval_dir / "parallel" / name / "ru-en.ru", [to_cyrillic(s) for s in english])
    english = language.sentences(120, 3)
    _write(eval_dir / "parallel" / "bible_nt" / "en2-en.en", english)
    _write(eval_dir / "parallel" / "bible_nt" / "en2-en.en2", [s.lower() for s in english])  # a light paraphrase
    counts = Counter(w.strip(".").lower() for s in en["train"] for w in s.split())
    by_frequency = [w for w, _ in counts.most_common()]
    test_words = set(by_frequency[10:40])  # MUSE-like: a frequency band for testing, the rest to learn from
    pairs = [(w, to_cyrillic(w)) for w in language.words if w in counts]
    _write(eval_dir / "dictionaries" / "en-ru.test.txt", [f"{a} {b}" for a, b in pairs if a in test_words])
    _write(eval_dir / "dictionaries" / "en-ru.train.txt", [f"{a}\t{b}" for a, b in pairs if a not in test_words])

    folders = {
        "mono_en": data_folder(root / "bin" / "mono_en", {"en": en}, 220),
        "mono_ru": data_folder(root / "bin" / "mono_ru", {"ru": ru}, 220),
        "bilingual": data_folder(root / "bin" / "bilingual", {"en": en, "ru": ru}, 420),
    }
    checkpoints = {}
    for name, folder in folders.items():
        langs = ",".join(json.loads((folder / "vocab.json").read_text())["langs"])
        save_dir = root / "checkpoints" / name
        train(tiny_train_args(folder, save_dir, langs, updates, ["--sample-break-mode", "eos", "--no-save-optimizer-state"]))
        checkpoints[name] = save_dir / "checkpoint_last.pt"
    return {"eval_dir": eval_dir, "text": text, "checkpoints": checkpoints, "language": language}
