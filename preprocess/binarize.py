"""Binarization: text -> sentencepiece ids -> fairseq's mmap indexed datasets, one data folder.

It runs in two steps, so that a corpus can be binarized by several array tasks:

1. **Parts** (:func:`encode_part`): part ``t`` of ``n`` of every text file (a byte range cut
   at line starts) is encoded with the language's model in worker processes, each
   sentencepiece id mapped to its ``dict.txt`` index (the no-anchors setting looks up the
   language-prefixed piece), an end-of-sentence appended to every line (the blank lines
   between documents become empty sentences, as in ``fairseq-preprocess``). A part folder
   holds ``<lang>.<split>.bin`` (the ids), ``<lang>.<split>.sizes.npy`` and the part's
   symbol counts.
2. **Assembly** (:func:`assemble_data_folder`): the parts' ``.bin`` files are concatenated
   in order and each ``.idx`` written from their sizes, ``dict.txt`` lists the symbols in
   sentencepiece order (:func:`preprocess.vocab.dictionary_symbols`) with their training
   counts, the models are copied in, and ``vocab.json`` says how text becomes ids.

The files are byte-identical to what ``spm_encode`` + ``fairseq-preprocess --only-source
--srcdict dict.txt`` write (``bench/preprocess.py`` checks it), without fairseq's
per-token Python loop. A failed write (a full disk) names the file it was writing and
removes the unfinished folder; the stage runner leaves the previous output in place.
"""

import json
import shutil
import struct
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Dict, Iterator, List, Sequence, Tuple

import numpy as np
import sentencepiece as spm
from tqdm import tqdm

from preprocess.parallel import pool, threads_per_worker
from preprocess.splits import SPLITS
from preprocess.vocab import dictionary_symbols

# fairseq's Dictionary puts <s> <pad> </s> <unk> first, then dict.txt's symbols
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
EOS, UNK = 2, 3
_INDEX_MAGIC = b"MMIDIDX\x00\x00"
_DTYPE_CODES = {np.dtype(np.uint16): 8, np.dtype(np.uint32): 9, np.dtype(np.int64): 5}


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


def index_dtype(dictionary_size: int) -> np.dtype:
    """The id type fairseq picks for a dictionary of this size (``best_fitting_int_dtype``)."""
    return np.dtype(np.uint16 if dictionary_size < 65500 else np.uint32 if dictionary_size < 2**32 - 1 else np.int64)


def write_index(path: Path, sizes: np.ndarray, dtype: np.dtype) -> None:
    """fairseq's mmap ``.idx``: magic, version, dtype code, count, int32 sizes, int64 byte offsets."""
    sizes = np.asarray(sizes, dtype=np.int64)
    pointers = np.zeros(len(sizes), dtype=np.int64)
    np.cumsum(sizes[:-1] * dtype.itemsize, out=pointers[1:])
    with writing(path), open(path, "wb") as f:
        f.write(_INDEX_MAGIC + struct.pack("<Q", 1) + struct.pack("<B", _DTYPE_CODES[dtype]))
        f.write(struct.pack("<Q", len(sizes)))
        f.write(sizes.astype(np.int32).tobytes())
        f.write(pointers.tobytes())


def line_ranges(path: Path, parts: int) -> List[Tuple[int, int]]:
    """``parts`` byte ranges of ``path`` that together cover it, each starting at a line start."""
    size = path.stat().st_size
    starts = [0]
    with open(path, "rb") as f:
        for i in range(1, parts):
            f.seek(max(i * size // parts - 1, starts[-1]))
            if f.tell() > 0:
                f.readline()  # on to the next line start (a seek to one already is a line start)
            starts.append(max(min(f.tell(), size), starts[-1]))
    return list(zip(starts, starts[1:] + [size]))


def _lines(path: Path, start: int, end: int, size: int) -> Iterator[List[str]]:
    with open(path, "rb") as f:
        f.seek(start)
        pos = start
        while pos < end:
            chunk = []
            for line in f:
                chunk.append(line.decode("utf-8"))
                pos += len(line)
                if len(chunk) == size or pos >= end:
                    break
            else:
                pos = end
            if chunk:
                yield chunk


class _Encoder:
    """One language's model and its sentencepiece id -> dict index table (in each worker)."""

    def __init__(self, model: str, prefix: str, index: Dict[str, int], threads: int):
        self.sp = spm.SentencePieceProcessor(model_file=model)
        self.prefix, self.index, self.threads = prefix, index, threads
        pieces = (prefix + self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size()))
        self.table = np.array([index.get(p, UNK) for p in pieces], dtype=np.int64)
        self.unk_id = self.sp.unk_id()

    def encode(self, lines: List[str]) -> Tuple[np.ndarray, np.ndarray]:
        """The dict indices of ``lines`` (each ended by </s>) and the length of each line."""
        stripped = [line.strip() for line in lines]
        ids = self.sp.encode(stripped, num_threads=self.threads)
        sizes = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids)) + 1
        ends = np.cumsum(sizes) - 1
        out = np.full(int(ends[-1]) + 1 if len(ends) else 0, EOS, dtype=np.int64)
        keep = np.ones(len(out), dtype=bool)
        keep[ends] = False
        out[keep] = self.table[np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(keep.sum()))]
        for i in (i for i, line_ids in enumerate(ids) if self.unk_id in line_ids):
            # text the model does not know: fairseq looks up the piece's characters, which
            # another language's model may have (union), so this line is looked up piece by piece
            pieces = self.sp.encode(stripped[i], out_type=str)
            out[ends[i] - len(pieces):ends[i]] = [self.index.get(self.prefix + p, UNK) for p in pieces]
        return out, sizes


_encoder = None


def _load_encoder(model: str, prefix: str, index: Dict[str, int], threads: int) -> None:
    global _encoder
    _encoder = _Encoder(model, prefix, index, threads)


def _encode_chunk(lines: List[str]) -> Tuple[np.ndarray, np.ndarray]:
    return _encoder.encode(lines)


@contextmanager
def writing(path: Path):
    """An OSError without a file name (a failed write: a full disk) gets ``path``."""
    try:
        yield
    except OSError as error:
        if error.filename:
            raise
        raise OSError(error.errno, error.strerror or str(error), str(path)) from error


def symbol_index(folder: DataFolder) -> Dict[str, int]:
    symbols = dictionary_symbols(folder.models, folder.piece_prefix)
    return {s: i for i, s in enumerate(chain(SPECIALS, symbols))}


def encode_part(folder: DataFolder, dest: Path, part: int, parts: int, workers: int, chunk_lines: int) -> dict:
    """Encode part ``part`` (0-based) of ``parts`` of every text of ``folder`` into the folder ``dest``."""
    try:
        return _encode_part(folder, dest, part, parts, workers, chunk_lines)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)  # on a full disk, what it wrote is in the way
        raise


def _encode_part(folder: DataFolder, dest: Path, part: int, parts: int, workers: int, chunk_lines: int) -> dict:
    dest.mkdir(parents=True)
    index = symbol_index(folder)
    dtype = index_dtype(len(index))
    counts = np.zeros(len(index), dtype=np.int64)
    report = {}
    for lang in folder.langs:
        init = (str(folder.models[lang]), folder.piece_prefix[lang], index, threads_per_worker(workers))
        with pool(workers, _load_encoder, init) as workers_pool:
            for split in SPLITS:
                src = folder.texts[lang][split]
                start, end = line_ranges(src, parts)[part]
                bin_path = dest / f"{lang}.{split}.bin"
                all_sizes, pieces = [], 0
                with writing(bin_path), open(bin_path, "wb") as f:
                    chunks = workers_pool.imap(_encode_chunk, _lines(src, start, end, chunk_lines))
                    for ids, sizes in tqdm(chunks, desc=f"encode {lang}.{split} {part + 1}/{parts}", unit=" chunks",
                                           disable=None):
                        f.write(ids.astype(dtype).tobytes())
                        all_sizes.append(sizes)
                        pieces += len(ids) - len(sizes)
                        if split == "train":
                            counts += np.bincount(ids, minlength=len(index))
                sizes = np.concatenate(all_sizes) if all_sizes else np.zeros(0, dtype=np.int64)
                with writing(dest / f"{lang}.{split}.sizes.npy"):
                    np.save(dest / f"{lang}.{split}.sizes.npy", sizes)
                report[f"{lang}.{split}"] = {"lines": len(sizes), "pieces": pieces}
    with writing(dest / "counts.npy"):
        np.save(dest / "counts.npy", counts)
    return report


def assemble_data_folder(folder: DataFolder, part_dirs: Sequence[Path], dest: Path) -> dict:
    """The data folder ``dest`` from the parts of :func:`encode_part`, in order."""
    try:
        return _assemble(folder, part_dirs, dest)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)  # on a full disk, what it wrote is in the way
        raise


def _assemble(folder: DataFolder, part_dirs: Sequence[Path], dest: Path) -> dict:
    index = symbol_index(folder)
    dtype = index_dtype(len(index))
    counts = sum(np.load(d / "counts.npy") for d in part_dirs)
    dest.mkdir(parents=True, exist_ok=True)
    report = {}
    for lang in folder.langs:
        (dest / lang).mkdir()
        for split in SPLITS:
            bin_path = dest / lang / f"{split}.bin"
            with writing(bin_path), open(bin_path, "wb") as out:
                for d in part_dirs:
                    with open(d / f"{lang}.{split}.bin", "rb") as f:
                        shutil.copyfileobj(f, out, 1 << 22)
            sizes = np.concatenate([np.load(d / f"{lang}.{split}.sizes.npy") for d in part_dirs])
            write_index(dest / lang / f"{split}.idx", sizes, dtype)
            report[f"{lang}.{split}"] = {"pieces": int(sizes.sum() - len(sizes))}

    symbols = list(index)[len(SPECIALS):]
    with writing(dest / "dict.txt"), open(dest / "dict.txt", "w", encoding="utf-8") as f:
        f.writelines(f"{s} {n}\n" for s, n in zip(symbols, counts[len(SPECIALS):].tolist()))
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
    report["train_pieces_not_in_dict"] = int(counts[UNK])
    return report


def build_data_folder(folder: DataFolder, dest: Path, workers: int, chunk_lines: int) -> dict:
    """Both steps in one process: the folder ``dest`` from one part (written inside it)."""
    part = dest / "part"
    try:
        encode_part(folder, part, 0, 1, workers, chunk_lines)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    report = assemble_data_folder(folder, [part], dest)
    shutil.rmtree(part)
    return report
