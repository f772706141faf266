"""One pair's results as the demo's report reads them: the transfer grids' summaries and
the analysis tables, each read once, so that the report's tables, its text and its
``claims.json`` are computed from the same numbers."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

import numpy as np

from fairseq_ext.analysis import retrieval
from fairseq_ext.analysis.cli import TABLES, read_analysis_table, read_cka_bootstrap, read_written
from fairseq_ext.transfer.finetune import evaluated_sizes
from fairseq_ext.transfer.grid import best_result, read_summaries
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
    for grid_dir, summary in read_summaries(root):
        task, setting = summary["column"], summary["setting"]
        if lang not in summary["test"]:
            continue
        results.test.setdefault(setting, {})[task] = 100 * summary["test"][lang]
        results.dev.setdefault(setting, {})[task] = 100 * summary["dev"]
        if "majority_baseline" in summary:  # classification: the training set's most frequent label
            results.majority[task] = 100 * summary["majority_baseline"][lang]
            results.dev_majority[task] = 100 * summary["majority_baseline"]["dev"]
        tests, results.dev_size[task] = evaluated_sizes(best_result(grid_dir, summary), [lang])
        results.test_size[task] = tests[lang]
    return results


@dataclass
class AnalysisResults:
    """The analysis tables of one pair (rows as text, as written), and its figures."""

    figures: Dict[str, List[str]] = field(default_factory=dict)  # analysis -> files written
    bli: List[Dict[str, str]] = field(default_factory=list)
    retrieval: List[Dict[str, str]] = field(default_factory=list)
    # (pair, comparison, layer, column) -> each test query's hit: comparisons on the same
    # queries are compared query by query
    retrieval_hits: Dict[Tuple[str, str, str, str], np.ndarray] = field(default_factory=dict)
    cka: List[Dict[str, str]] = field(default_factory=list)
    cka_bootstrap: Dict[Tuple[str, str, str], np.ndarray] = field(default_factory=dict)
    word_maps: List[Dict[str, str]] = field(default_factory=list)


def read_analysis(root: Path) -> AnalysisResults:
    """What ``fairseq_ext.analysis`` wrote under ``root`` (empty where an analysis did not run)."""
    results = AnalysisResults(figures=read_written(root))
    if not results.figures:
        return results
    for name in TABLES:
        setattr(results, name, read_analysis_table(root, name))
    results.cka_bootstrap = read_cka_bootstrap(root)
    results.retrieval_hits = retrieval.read_hits(root)
    return results
