"""Binarization: text -> sentencepiece pieces -> fairseq's indexed datasets, one data folder.

1. Each language's text is encoded with its model in parallel workers (chunks of lines,
   order kept; the blank lines between documents are kept as document boundaries). In the
   no-anchors setting every piece gets the language prefix.
2. ``dict.txt`` lists the symbols in sentencepiece order (:func:`preprocess.vocab.dictionary_symbols`)
   with their training-data counts.
3. ``fairseq-preprocess --only-source --srcdict dict.txt --workers N`` binarizes each
   language into ``DATA/<lang>/{train,valid,test}.{bin,idx}``.
4. The models are copied into the folder and ``vocab.json`` says how text becomes ids.

A failed write (a full disk) names the file it was writing and removes the unfinished
folder; the stage runner leaves the previous output in place.
"""

import json
import logging
import shutil
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Dict, Iterator, List

import sentencepiece as spm
from tqdm import tqdm

from preprocess.parallel import pool, worker_count
from preprocess.splits import SPLITS
from preprocess.vocab import dictionary_symbols


@dataclass
class DataFolder:
    setting: str  # vocab.json setting: joint, union, no_anchors, extra_anchors
    langs: List[str]
    models: Dict[str, Path]  # language -> sentencepiece model
    texts: Dict[str, Dict[str, Path]]  # language -> split -> text
    piece_prefix: Dict[str, str]

    def model_names(self) -> Dict[str, str]:
        """Model file names inside the folder: one shared model is ``spm.model``."""
        if len(set(self.models.values())) == 1:
            return {lang: "spm.model" for lang in self.langs}
        return {lang: f"spm.{lang}.model" for lang in self.langs}


_processor = None


def _load_processor(model: str) -> None:
    global _processor
    _processor = spm.SentencePieceProcessor(model_file=model)


def _encode_chunk(args):
    lines, prefix = args
    out, counts = [], Counter()
    for line in lines:
        pieces = [prefix + p for p in _processor.encode(line.strip(), out_type=str)] if line.strip() else []
        counts.update(pieces)
        out.append(" ".join(pieces) + "\n")
    return out, counts


def _chunks(path: Path, size: int, prefix: str) -> Iterator[tuple]:
    with open(path, encoding="utf-8") as f:
        while True:
            lines = list(islice(f, size))
            if not lines:
                return
            yield lines, prefix


@contextmanager
def writing(path: Path):
    """An OSError without a file name (a failed write: a full disk) gets ``path``."""
    try:
        yield
    except OSError as error:
        if error.filename:
            raise
        raise OSError(error.errno, error.strerror or str(error), str(path)) from error


def encode_file(src: Path, dest: Path, model: Path, prefix: str, workers: int, chunk_lines: int) -> Counter:
    """Write the pieces of every line of ``src`` to ``dest``; returns the piece counts."""
    counts = Counter()
    with writing(dest), pool(workers, _load_processor, (str(model),)) as workers_pool, open(dest, "w", encoding="utf-8") as f:
        chunks = workers_pool.imap(_encode_chunk, _chunks(src, chunk_lines, prefix))
        for lines, chunk_counts in tqdm(chunks, desc=f"encode {src.name}", unit=" chunks", disable=None):
            f.writelines(lines)
            counts.update(chunk_counts)
    return counts


def fairseq_binarize(dict_path: Path, prefixes: Dict[str, Path], destdir: Path, workers: int) -> None:
    """``fairseq-preprocess --only-source --srcdict`` in this process (no second torch import)."""
    from fairseq import options
    from fairseq_cli import preprocess

    argv = ["--only-source", "--srcdict", str(dict_path), "--destdir", str(destdir),
            "--workers", str(worker_count(workers)), "--dataset-impl", "mmap"]
    for split, prefix in prefixes.items():
        argv += [f"--{split}pref", str(prefix)]
    args = options.get_preprocessing_parser().parse_args(argv)
    log = logging.getLogger(preprocess.__name__)
    before, level = list(log.handlers), log.level
    log.setLevel(logging.WARNING)  # its info lines repeat our report (and print every option)
    try:
        preprocess.main(args)
    finally:
        log.setLevel(level)
        for handler in log.handlers[len(before):]:  # it adds a log file handler per call
            handler.close()
            log.removeHandler(handler)
    for extra in ("dict.txt", "preprocess.log"):
        (destdir / extra).unlink(missing_ok=True)


def build_data_folder(folder: DataFolder, dest: Path, workers: int, chunk_lines: int) -> dict:
    try:
        return _build_data_folder(folder, dest, workers, chunk_lines)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)  # on a full disk, what it wrote is in the way
        raise


def _build_data_folder(folder: DataFolder, dest: Path, workers: int, chunk_lines: int) -> dict:
    dest.mkdir(parents=True)
    pieces_dir = dest / "pieces"
    pieces_dir.mkdir()
    train_counts, report = Counter(), {}
    for lang in folder.langs:
        for split in SPLITS:
            counts = encode_file(
                folder.texts[lang][split], pieces_dir / f"{lang}.{split}", folder.models[lang],
                folder.piece_prefix[lang], workers, chunk_lines,
            )
            if split == "train":
                train_counts.update(counts)
            report[f"{lang}.{split}"] = {"pieces": sum(counts.values())}

    symbols = dictionary_symbols(folder.models, folder.piece_prefix)
    with writing(dest / "dict.txt"), open(dest / "dict.txt", "w", encoding="utf-8") as f:
        f.writelines(f"{s} {train_counts.get(s, 0)}\n" for s in symbols)
    in_dict = set(symbols)
    unknown = sum(n for piece, n in train_counts.items() if piece not in in_dict)

    for lang in folder.langs:
        with writing(dest / lang):
            fairseq_binarize(
                dest / "dict.txt", {split: pieces_dir / f"{lang}.{split}" for split in SPLITS}, dest / lang, workers
            )
    shutil.rmtree(pieces_dir)

    names = folder.model_names()
    for lang in folder.langs:
        shutil.copyfile(folder.models[lang], dest / names[lang])
    with writing(dest / "vocab.json"):
        (dest / "vocab.json").write_text(
            json.dumps(
                {"setting": folder.setting, "langs": folder.langs, "sentencepiece": names, "piece_prefix": folder.piece_prefix},
                indent=1,
            )
            + "\n",
            encoding="utf-8",
        )
    report["dict_size"] = len(symbols)
    report["train_pieces_not_in_dict"] = unknown
    return report
