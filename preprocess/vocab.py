"""Sentencepiece models and the fairseq dictionaries of the four vocabulary settings.

- **joint** (and extra anchors): one model trained on a temperature-balanced sample of all
  languages (language l drawn with q_l ~ p_l**alpha); ``dict.txt`` = its pieces in
  sentencepiece order without ``<unk>``, ``<s>``, ``</s>``, so a fairseq id is the
  sentencepiece id + 1, as Hugging Face's XLM-R tokenizer assumes.
- **union** (default anchors): one model per language; ``dict.txt`` = the first language's
  pieces in its model's order, then each further language's pieces not already present,
  so identical pieces share an id.
- **no_anchors**: like union, but every piece is first prefixed with its language
  (``en_▁the``), so no id is shared.

The data-folder contract is README.md's "Data layout" (``fairseq_ext/vocab.py`` reads it).
"""

import os
import shutil
import tempfile
from pathlib import Path
from typing import Dict, Iterator, List

import numpy as np
import sentencepiece as spm

from preprocess.config import VocabConfig
from preprocess.parallel import worker_count
from preprocess.textio import read_documents


def _nonempty_lines(path: Path) -> Iterator[str]:
    for doc in read_documents(path):
        yield from doc


def temperature_sample(texts: Dict[str, Path], total: int, alpha: float, seed: int, dest: Path) -> dict:
    """Write ``total`` lines (at most all of them) drawn per language with q_l ~ (n_l / N)**alpha."""
    sizes = {lang: sum(1 for _ in _nonempty_lines(path)) for lang, path in texts.items()}
    total = min(total, sum(sizes.values()))
    p = np.array([sizes[lang] for lang in texts], dtype=float)
    q = (p / p.sum()) ** alpha
    q /= q.sum()
    rng = np.random.default_rng(seed)
    report = {}
    with open(dest, "w", encoding="utf-8") as f:
        for (lang, path), share in zip(texts.items(), q):
            want = max(1, int(round(share * total)))
            # a language smaller than its share is repeated (drawn with replacement)
            picks = rng.choice(sizes[lang], size=want, replace=want > sizes[lang])
            repeats = np.bincount(picks, minlength=sizes[lang])
            for line, times in zip(_nonempty_lines(path), repeats):
                f.write((line + "\n") * int(times))
            report[lang] = {"lines": sizes[lang], "sampled": want, "share": round(float(share), 4)}
    return report


def train_sentencepiece(text: Path, model_out: Path, vocab_out: Path, vocab_size: int, cfg: VocabConfig, langs: List[str]) -> dict:
    coverage = cfg.character_coverage or (0.9995 if "zh" in langs else 1.0)
    with tempfile.TemporaryDirectory(dir=model_out.parent) as tmp:
        prefix = os.path.join(tmp, "spm")
        try:
            _train(text, prefix, vocab_size, cfg, coverage)
        except RuntimeError as e:
            raise ValueError(
                f"sentencepiece could not train a {vocab_size}-piece model on {text} ({e}); raise the vocabulary "
                "size (vocab.joint_size / vocab.lang_size) or lower vocab.character_coverage"
            ) from e
        shutil.move(prefix + ".model", model_out)
        shutil.move(prefix + ".vocab", vocab_out)
    size = spm.SentencePieceProcessor(model_file=str(model_out)).get_piece_size()
    return {"vocab_size": size, "requested": vocab_size, "character_coverage": coverage}


def _train(text: Path, prefix: str, vocab_size: int, cfg: VocabConfig, coverage: float) -> None:
    spm.SentencePieceTrainer.train(
        input=str(text),
        model_prefix=prefix,
        vocab_size=vocab_size,
        model_type=cfg.model_type,
        character_coverage=coverage,
        num_threads=worker_count(cfg.threads),
        input_sentence_size=cfg.sample_lines,
        shuffle_input_sentence=True,
        max_sentence_length=16384,
        hard_vocab_limit=False,  # a small corpus gets the pieces it has, not an error
        minloglevel=2,
    )


def model_pieces(model: Path) -> List[str]:
    """The pieces of a model in id order, without the unknown and control pieces."""
    sp = spm.SentencePieceProcessor(model_file=str(model))
    return [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if not (sp.is_unknown(i) or sp.is_control(i))]


def dictionary_symbols(models: Dict[str, Path], prefixes: Dict[str, str]) -> List[str]:
    """The symbols of ``dict.txt``: each language's (prefixed) pieces in model order, first
    occurrence wins. One model shared by all languages gives exactly its piece order."""
    symbols = {}
    for lang, model in models.items():
        for piece in model_pieces(model):
            symbols.setdefault(prefixes[lang] + piece, None)
    return list(symbols)
