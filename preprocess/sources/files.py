"""Reading possibly compressed files line by line, with errors that name the file."""

import bz2
import gzip
import lzma
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, Tuple

_OPENERS = {".bz2": bz2.open, ".gz": gzip.open, ".xz": lzma.open}
_STREAM_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError)


def open_binary(path: Path) -> BinaryIO:
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    return _OPENERS.get(path.suffix, open)(path, "rb")


@contextmanager
def stream_errors(path: Path, position=lambda: "") -> Iterator[None]:
    """Turn a decompressor's error mid-file (a truncated download) into one naming the file."""
    try:
        yield
    except _STREAM_ERRORS as e:
        raise ValueError(f"{path}: truncated or corrupt file{position()}: {e}") from e


def binary_lines(path: Path) -> Iterator[Tuple[int, bytes]]:
    """``(line number, raw bytes)``; text is decoded by the caller, so bad UTF-8 can be counted."""
    lineno = 0
    with open_binary(path) as f, stream_errors(path, lambda: f" after line {lineno}"):
        for lineno, line in enumerate(f, 1):
            yield lineno, line


def decode(line: bytes) -> str:
    # invalid bytes become U+FFFD, which the cleaning stage counts and drops
    return line.decode("utf-8", errors="replace")
