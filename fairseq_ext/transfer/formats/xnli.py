"""NLI sentence pairs: XNLI 1.0 (``xnli.dev.tsv``/``.jsonl``, ``xnli.test.tsv``/``.jsonl``,
all languages in one file with a ``language`` column or field) and the English MultiNLI
training data (``multinli_1.0_train.txt`` or ``.jsonl``, or XNLI-MT's ``multinli.train.en.tsv``).

The TSV files are read by their header, so any of these column sets works:
``sentence1, sentence2, gold_label`` (MultiNLI, XNLI) or ``premise, hypo, label`` (XNLI-MT).
A file without languages holds English pairs (MultiNLI): asking it for another language
is an error rather than a test set in the wrong language.
"""

import json
from typing import List, Optional

from fairseq_ext.transfer.examples import TextExample
from fairseq_ext.transfer.formats.lines import FormatError, numbered_lines

LABELS = ("entailment", "neutral", "contradiction")
# XNLI-MT spells one label differently; MultiNLI marks pairs without a gold label with '-'
LABEL_SPELLINGS = {"contradictory": "contradiction"}
NO_GOLD_LABEL = "-"
COLUMN_SETS = (("sentence1", "sentence2", "gold_label"), ("premise", "hypo", "label"))


ENGLISH = "en"  # the language of a file without a language column (MultiNLI)


def read_nli(path, lang: Optional[str] = None) -> List[TextExample]:
    """Pairs of ``lang`` (every pair with ``lang=None``)."""
    if str(path).endswith(".jsonl"):
        rows = _jsonl_rows(path)
    else:
        rows = _tsv_rows(path)
    examples, languages = [], set()
    for number, row in rows:
        if "language" in row:
            languages.add(row["language"])
            if lang is not None and row["language"] != lang:
                continue
        elif lang not in (None, ENGLISH):
            raise ValueError(
                f"{path} has no language column or field, so it holds English pairs (MultiNLI): "
                f"it has none for language {lang!r}"
            )
        label = LABEL_SPELLINGS.get(row["label"], row["label"])
        if label == NO_GOLD_LABEL:
            continue
        if label not in LABELS:
            raise FormatError(path, number, f"unknown NLI label {row['label']!r} (expected one of {LABELS})")
        examples.append(TextExample(texts=(row["premise"], row["hypothesis"]), label=label))
    if not examples:
        found = f" (languages present: {sorted(languages)})" if languages else ""
        raise ValueError(f"{path} holds no labelled pairs for language {lang!r}{found}")
    return examples


def _tsv_rows(path):
    lines = numbered_lines(path)
    _, header_line = next(lines, (1, ""))
    header = header_line.split("\t")
    columns = next((c for c in COLUMN_SETS if set(c) <= set(header)), None)
    if columns is None:
        raise FormatError(
            path, 1, f"header has none of the column sets {COLUMN_SETS}: is this an XNLI/MultiNLI tsv?"
        )
    premise, hypothesis, label = (header.index(name) for name in columns)
    language = header.index("language") if "language" in header else None
    for number, line in lines:
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise FormatError(path, number, f"{len(fields)} tab-separated fields, the header has {len(header)}")
        row = {"premise": fields[premise], "hypothesis": fields[hypothesis], "label": fields[label]}
        if language is not None:
            row["language"] = fields[language]
        yield number, row


def _jsonl_rows(path):
    """Rows of MultiNLI records, and of XNLI records, which add ``language``; a file must
    not mix the two, or its pairs could not be told apart by language."""
    first_number, with_language = None, None
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            row = {"premise": record["sentence1"], "hypothesis": record["sentence2"], "label": record["gold_label"]}
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise FormatError(path, number, f"not a MultiNLI or XNLI json record ({error!r})") from None
        if with_language is None:
            first_number, with_language = number, "language" in record
        if ("language" in record) != with_language:
            has = "has" if with_language else "has no"
            raise FormatError(
                path, number, f"record {'without' if with_language else 'with'} a 'language' field, "
                f"but the record of line {first_number} {has} one"
            )
        if with_language:
            row["language"] = record["language"]
        yield number, row
