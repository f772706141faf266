"""Reading text files line by line, with errors that name the file and the line."""

from pathlib import Path
from typing import Iterator, List, Tuple


class FormatError(ValueError):
    """A malformed line in a dataset file."""

    def __init__(self, path, line_number: int, message: str):
        super().__init__(f"{path}:{line_number}: {message}")
        self.path = str(path)
        self.line_number = line_number


def numbered_lines(path) -> Iterator[Tuple[int, str]]:
    """(1-based line number, line without its line break); UTF-8 errors name the line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (or is not a file)")
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise FormatError(path, number, f"not UTF-8 ({error.reason} at byte {error.start})") from None
            if number == 1:
                line = line.lstrip("\ufeff")
            yield number, line.rstrip("\r\n")


def line_blocks(path) -> Iterator[List[Tuple[int, str]]]:
    """Runs of non-blank lines between blank lines: one sentence each in CoNLL formats."""
    block = []
    for number, line in numbered_lines(path):
        if line.strip():
            block.append((number, line))
        elif block:
            yield block
            block = []
    if block:
        yield block
