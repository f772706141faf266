"""Gather grid summaries into the paper's Table 1 layout: rows are pretraining settings,
columns are task x target language, plus each task's Δ (the difference of its language
average from the baseline row, Default in the paper). Scores are in percent.

Reads ``ROOT/**/summary.json`` (the grid's output; each names its setting and column)
and writes ``PREFIX.csv`` and ``PREFIX.md``.
"""

import csv
import io
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from xling import files, settings
from fairseq_ext.transfer.grid import SUMMARY, read_summaries

# Table 1's rows, in its order (name -> the paper's name, from xling.settings); other
# settings follow alphabetically, under their own name
ROW_NAMES = settings.display_names()
COLUMN_ORDER = settings.TASKS  # ("XNLI", "NER", "Parsing")
LANGUAGE_ORDER = ("fr", "ru", "zh")
MAJORITY = "majority class"
Scores = Dict[str, Dict[str, Dict[str, float]]]  # row -> column -> language -> score


def gather(root) -> Scores:
    """Test scores of every summary below ``root``; classification summaries also give a
    'majority class' row."""
    scores: Scores = {}
    origin: Dict[Tuple[str, str, str], Path] = {}
    for grid_dir, summary in read_summaries(root):
        path = grid_dir / SUMMARY
        rows = [(summary["setting"], summary["test"])]
        if "majority_baseline" in summary:
            baseline = summary["majority_baseline"]
            rows.append((MAJORITY, {lang: baseline[lang] for lang in summary["test"]}))
        for row, tests in rows:
            for lang, score in tests.items():
                key = (row, summary["column"], lang)
                if key in origin and row != MAJORITY:
                    raise ValueError(f"{path} and {origin[key]} both give {row} / {summary['column']} / {lang}")
                origin.setdefault(key, path)
                scores.setdefault(row, {}).setdefault(summary["column"], {})[lang] = score
    if not scores:
        raise FileNotFoundError(f"no summary.json below {root}: run the grid first")
    return scores


def _order(names, preferred) -> List[str]:
    return [n for n in preferred if n in names] + sorted(n for n in names if n not in preferred)


def table(scores: Scores, baseline: str = "default") -> Tuple[List[str], List[List[Optional[float]]], List[str]]:
    """(header, rows of numbers in percent (None where missing), row names)."""
    columns = _order({c for row in scores.values() for c in row}, COLUMN_ORDER)
    languages = {
        column: _order({lang for row in scores.values() for lang in row.get(column, {})}, LANGUAGE_ORDER)
        for column in columns
    }
    row_keys = _order([r for r in scores if r != MAJORITY], list(ROW_NAMES)) + ([MAJORITY] if MAJORITY in scores else [])
    header = ["Model"] + [f"{column} {name}" for column in columns for name in [*languages[column], "Δ"]]
    rows = []
    for key in row_keys:
        cells = []
        for column in columns:
            mine = scores[key].get(column, {})
            reference = scores.get(baseline, {}).get(column, {})
            values = [100 * mine[lang] if lang in mine else None for lang in languages[column]]
            complete = all(lang in mine and lang in reference for lang in languages[column])
            delta = None
            if complete:
                delta = 100 * (np.mean([mine[l] for l in languages[column]]) - np.mean([reference[l] for l in languages[column]]))
            cells += [*values, delta]
        rows.append(cells)
    return header, rows, [ROW_NAMES.get(key, key) for key in row_keys]


def _cell(value: Optional[float], signed: bool) -> str:
    if value is None:
        return ""
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def write_table(root, out_prefix, baseline: str = "default") -> Tuple[Path, Path]:
    header, rows, names = table(gather(root), baseline)
    signed = [name.endswith("Δ") for name in header[1:]]
    text_rows = [[name] + [_cell(v, s) for v, s in zip(row, signed)] for name, row in zip(names, rows)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(text_rows)
    markdown = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    markdown += ["| " + " | ".join(cell or "–" for cell in row) + " |" for row in text_rows]
    csv_path, md_path = Path(f"{out_prefix}.csv"), Path(f"{out_prefix}.md")
    files.write_text(csv_path, buffer.getvalue())
    files.write_text(md_path, "\n".join(markdown) + "\n")
    return csv_path, md_path
