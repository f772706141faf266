"""Result rows (dicts) as CSV and Markdown tables, written atomically."""

import csv
import io
import math
from pathlib import Path
from typing import Dict, List, Sequence

from xling import files


def _columns(rows: Sequence[Dict]) -> List[str]:
    columns: List[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    return columns


def _cell(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def write_csv(rows: Sequence[Dict], path) -> Path:
    """``path`` with one column per key (in first-seen order)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, _columns(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    files.write_text(path, buffer.getvalue())
    return Path(path)


def write_tables(rows: Sequence[Dict], prefix) -> List[Path]:
    """``PREFIX.csv`` and ``PREFIX.md`` with one column per key (in first-seen order)."""
    if not rows:
        raise ValueError(f"no result rows for {prefix}")
    columns = _columns(rows)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    md_path = Path(f"{prefix}.md")
    csv_path = write_csv(rows, f"{prefix}.csv")
    files.write_text(md_path, "\n".join(lines) + "\n")
    return [csv_path, md_path]


def read_table(path) -> List[Dict[str, str]]:
    """The rows of a table :func:`write_csv` or :func:`write_tables` wrote, as text."""
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))
