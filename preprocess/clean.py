"""Cleaning stage: one language's units in, the usable ones out, every drop counted.

Per line, in order: invalid UTF-8 (decoded as U+FFFD by the readers) drops the line;
control and format characters are removed; Unicode normalisation; whitespace collapsed;
for Chinese, the spaces stray around Han characters and full-width punctuation are
removed and traditional characters are converted to simplified (OpenCC); then the length
filter, the script filter (share of the line's letters in the language's script), the
language filter (py3langid, whose model ships in its package, on lines long enough for it
to be reliable) and exact-duplicate removal.
"""

import re
import string
import unicodedata
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from tqdm import tqdm

from preprocess.config import CleanConfig
from preprocess.parallel import pool
from preprocess.splits import text_digest
from preprocess.textio import Unit, read_units, write_units

SCRIPTS: Dict[str, str] = {"en": "LATIN", "fr": "LATIN", "de": "LATIN", "es": "LATIN", "it": "LATIN",
                           "pt": "LATIN", "ru": "CYRILLIC", "uk": "CYRILLIC", "zh": "CJK"}
# control (Cc) and format (Cf) characters, except the joiners some scripts need
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_HAN_OR_FULLWIDTH = r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef“”‘’]"
_ZH_STRAY_SPACE = re.compile(rf"(?<={_HAN_OR_FULLWIDTH})\s+|\s+(?={_HAN_OR_FULLWIDTH})")


@lru_cache(maxsize=None)
def _identifier(candidates: Tuple[str, ...]):
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
    identifier.set_languages(list(candidates))
    return identifier


@lru_cache(maxsize=None)
def _to_simplified():
    import opencc

    return opencc.OpenCC("t2s")


_ASCII_LETTERS = string.ascii_letters.encode()


@lru_cache(maxsize=None)
def _in_script(ch: str, script: str) -> bool:
    return unicodedata.name(ch, "").startswith(script)


def script_share(text: str, script: str) -> float:
    """Share of the letters of ``text`` whose Unicode name starts with ``script``."""
    if text.isascii():  # most lines of most corpora: every letter is a Latin one, counted in C
        letters = len(text) - len(text.encode("ascii").translate(None, _ASCII_LETTERS))
        return float(script == "LATIN") if letters else 0.0
    letters = in_script = 0
    for ch, n in Counter(text).items():  # each distinct character looked up once
        if ch.isalpha():
            letters += n
            in_script += n * _in_script(ch, script)
    return in_script / letters if letters else 0.0


def clean_line(text: str, lang: str, cfg: CleanConfig) -> Tuple[Optional[str], str]:
    """``(cleaned text, "")`` or ``(None, reason)``; also ``(text, "control_chars_removed")``."""
    if "\ufffd" in text:
        return None, "invalid_utf8"
    note = ""
    stripped = _CONTROL.sub(" ", text)
    if stripped != text:
        note = "control_chars_removed"
    text = " ".join(unicodedata.normalize(cfg.normalization, stripped).split())
    if lang == "zh":
        text = _ZH_STRAY_SPACE.sub("", text)
        if cfg.chinese_script == "simplified":
            text = _to_simplified().convert(text)
    if len(text) < cfg.min_chars:
        return None, "too_short"
    if len(text) > cfg.max_chars:
        return None, "too_long"
    script = SCRIPTS.get(lang)
    if script and script_share(text, script) < cfg.min_script_ratio:
        return None, "wrong_script"
    if len(text) >= cfg.langid_min_chars and lang in cfg.langid_candidates:
        predicted, _ = _identifier(tuple(cfg.langid_candidates)).classify(text)
        if predicted != lang:
            return None, "wrong_language"
    return text, note


def _clean_batch(args):
    batch, lang, cfg = args
    return [(unit, *clean_line(unit.text, lang, cfg)) for unit in batch]


def _batches(units, lang: str, cfg: CleanConfig, size: int = 2000):
    batch = []
    for unit in units:
        batch.append(unit)
        if len(batch) == size:
            yield batch, lang, cfg
            batch = []
    if batch:
        yield batch, lang, cfg


def clean_units(src: Path, dest: Path, lang: str, cfg: CleanConfig) -> dict:
    dropped, notes = Counter(), Counter()
    seen = set()
    lines_in = 0

    def kept():
        nonlocal lines_in
        with pool(cfg.workers) as workers:
            for results in workers.imap(_clean_batch, _batches(read_units(src), lang, cfg)):
                for unit, text, reason in results:
                    lines_in += 1
                    if text is None:
                        dropped[reason] += 1
                        continue
                    if reason:
                        notes[reason] += 1
                    digest = text_digest(text)
                    if digest in seen:
                        dropped["duplicate"] += 1
                        continue
                    seen.add(digest)
                    yield unit._replace(text=text)

    lines_out = write_units(dest, tqdm(kept(), desc=f"clean {src.parent.name}/{src.name}", unit=" lines", disable=None))
    if lines_out == 0:
        raise ValueError(f"{src}: no line survived cleaning as '{lang}' ({lines_in} in, dropped: {dict(dropped)})")
    return {"lines_in": lines_in, "lines_out": lines_out, "dropped": dict(dropped), "notes": dict(notes)}


def merge_shards(shards: List[Path], dest: Path) -> dict:
    """The cleaned shards of one corpus and language, in order, as one file: each shard was
    deduplicated on its own, so a line seen in an earlier shard is dropped here."""
    seen, lines_in, dropped = set(), 0, 0

    def kept():
        nonlocal lines_in, dropped
        for shard in shards:
            for unit in read_units(shard):
                lines_in += 1
                digest = text_digest(unit.text)
                if digest in seen:
                    dropped += 1
                    continue
                seen.add(digest)
                yield unit

    lines_out = write_units(dest, tqdm(kept(), desc=f"merge {dest.parent.name}/{dest.stem}", unit=" lines", disable=None))
    return {"shards": len(shards), "lines_in": lines_in, "lines_out": lines_out,
            "dropped": {"duplicate_across_shards": dropped}}
