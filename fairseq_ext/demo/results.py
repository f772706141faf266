"""One pair's results as the demo's report reads them: the transfer grids' summaries and
the analysis tables, each read once, so that the report's tables, its text and its
``claims.json`` are computed from the same numbers."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

import numpy as np

from fairseq_ext.analysis.cli import CKA_BOOTSTRAP, read_cka_bootstrap
from fairseq_ext.analysis.tables import read_table
from fairseq_ext.transfer.finetune import RESULT, source_dev_size, target_test_sizes
from fairseq_ext.transfer.grid import SUMMARY
from fairseq_ext.transfer.table import ROW_NAMES


def ordered_settings(names: Iterable[str]) -> List[str]:
    """Table 1's order (``ROW_NAMES``), then any other setting alphabetically."""
    names = set(names)
    return [n for n in ROW_NAMES if n in names] + sorted(n for n in names if n not in ROW_NAMES)


@dataclass
class TransferResults:
    """One pair's transfer results, in percent: setting -> task -> score."""

    test: Dict[str, Dict[str, float]] = field(default_factory=dict)  # target test accuracy
    dev: Dict[str, Dict[str, float]] = field(default_factory=dict)  # English (source) dev accuracy
    majority: Dict[str, float] = field(default_factory=dict)  # task -> majority class on the target test set
    dev_majority: Dict[str, float] = field(default_factory=dict)  # task -> majority class on English dev
    test_size: Dict[str, int] = field(default_factory=dict)  # task -> target test examples
    dev_size: Dict[str, int] = field(default_factory=dict)  # task -> English dev examples

    def tasks(self) -> List[str]:
        return list(dict.fromkeys(task for scores in self.test.values() for task in scores))


def read_transfer(root: Path, lang: str) -> TransferResults:
    """Every grid summary below ``root`` that tested ``lang``."""
    results = TransferResults()
    for path in sorted(Path(root).rglob(SUMMARY)):
        summary = json.loads(path.read_text(encoding="utf-8"))
        task, setting = summary["column"], summary["setting"]
        if lang not in summary["test"]:
            continue
        results.test.setdefault(setting, {})[task] = 100 * summary["test"][lang]
        results.dev.setdefault(setting, {})[task] = 100 * summary["dev"]
        if "majority_baseline" in summary:  # classification: the training set's most frequent label
            results.majority[task] = 100 * summary["majority_baseline"][lang]
            results.dev_majority[task] = 100 * summary["majority_baseline"]["dev"]
        point = json.loads((path.parent / summary["best_points"][0] / RESULT).read_text(encoding="utf-8"))
        results.test_size[task] = target_test_sizes(point, [lang])[lang]
        results.dev_size[task] = source_dev_size(point)
    return results


@dataclass
class AnalysisResults:
    """The analysis tables of one pair (rows as text, as written), and its figures."""

    figures: Dict[str, List[str]] = field(default_factory=dict)  # analysis -> files written
    bli: List[Dict[str, str]] = field(default_factory=list)
    retrieval: List[Dict[str, str]] = field(default_factory=list)
    cka: List[Dict[str, str]] = field(default_factory=list)
    cka_bootstrap: Dict[Tuple[str, str, str], np.ndarray] = field(default_factory=dict)
    word_maps: List[Dict[str, str]] = field(default_factory=list)


def read_analysis(root: Path) -> AnalysisResults:
    """What ``fairseq_ext.analysis`` wrote under ``root`` (empty where an analysis did not run)."""
    results = AnalysisResults()
    if not (root / "summary.json").exists():
        return results
    results.figures = json.loads((root / "summary.json").read_text(encoding="utf-8"))
    for name, table in (("bli", "bli/bli.csv"), ("retrieval", "retrieval/retrieval.csv"),
                        ("cka", "cka/cka_layers.csv"), ("word_maps", "word_maps/word_maps.csv")):
        if (root / table).exists():
            setattr(results, name, read_table(root / table))
    if (root / "cka" / CKA_BOOTSTRAP).exists():
        results.cka_bootstrap = read_cka_bootstrap(root / "cka" / CKA_BOOTSTRAP)
    return results
