"""Result rows (dicts) as CSV and Markdown tables, written atomically."""

import csv
import io
import math
from pathlib import Path
from typing import Dict, List, Sequence

from fairseq_ext import files


def _columns(rows: Sequence[Dict]) -> List[str]:
    columns: List[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    return columns


def _cell(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def write_tables(rows: Sequence[Dict], prefix) -> List[Path]:
    """``PREFIX.csv`` and ``PREFIX.md`` with one column per key (in first-seen order)."""
    if not rows:
        raise ValueError(f"no result rows for {prefix}")
    columns = _columns(rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    csv_path, md_path = Path(f"{prefix}.csv"), Path(f"{prefix}.md")
    files.write_text(csv_path, buffer.getvalue())
    files.write_text(md_path, "\n".join(lines) + "\n")
    return [csv_path, md_path]
