"""The paper's protocol over a hyper-parameter grid: one fine-tuning run per point, and
the reported score is the average of the two points best on the source-language dev set.

Layout: ``OUT/<point>/result.json`` per point and ``OUT/summary.json``. A rerun skips
finished points and resumes an unfinished one; ``--point I`` runs one point only (e.g. as
a SLURM array task), and the summary is written once every point is finished. A point is
run holding its folder's lock (``xling.run_lock``), so two grids never write one
point at the same time: the second is refused.
"""

import itertools
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from omegaconf import OmegaConf

from xling import files, run_lock
from fairseq_ext.transfer.config import merged_config, to_config
from fairseq_ext.transfer.finetune import finetune, read_result

SUMMARY = "summary.json"
BEST_OF = 2  # the paper averages the best two settings


def grid_points(grid: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Every combination of the grid's values, as {dotted key: value} (one empty point for
    an empty grid). The grid nests like the config: ``{"train": {"lr": [2e-5, 3e-5]}}``."""
    axes = dict(_leaves(grid))
    return [dict(zip(axes, values)) for values in itertools.product(*axes.values())]


def _leaves(tree: Dict[str, Any], prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        elif isinstance(value, list) and value:
            yield f"{prefix}{key}", value
        else:
            raise ValueError(f"grid.{prefix}{key} must be a non-empty list of values, not {value!r}")


def point_name(point: Dict[str, Any]) -> str:
    """A folder name such as ``batch_size16_lr2e-05`` (the last part of each key)."""
    return "_".join(f"{key.rsplit('.', 1)[-1]}{value}" for key, value in point.items()) or "single"


def run_grid(config_path: Optional[str], overrides: Sequence[str] = (), point_index: Optional[int] = None):
    """Run the grid's points (or one); returns the summary once every point is finished."""
    base = merged_config(config_path, overrides)
    grid_cfg = to_config(base)
    points = grid_points(grid_cfg.grid)
    if point_index is not None and not 0 <= point_index < len(points):
        raise ValueError(f"--point {point_index}: the grid has points 0..{len(points) - 1}")
    out_dir = Path(grid_cfg.out_dir)
    for index, point in enumerate(points):
        if point_index in (None, index):
            point_cfg = OmegaConf.merge(base, OmegaConf.from_dotlist([f"{k}={v}" for k, v in point.items()]))
            OmegaConf.update(point_cfg, "out_dir", str(out_dir / point_name(point)))
            with run_lock.acquire(out_dir / point_name(point)):
                finetune(to_config(point_cfg))
    results = [read_result(out_dir / point_name(point)) for point in points]
    if any(result is None for result in results):
        return None
    summary = summarise(results, points)
    files.write_json(out_dir / SUMMARY, summary)
    return summary


def summarise(results: List[dict], points: List[Dict[str, Any]]) -> dict:
    """Average of the ``BEST_OF`` points with the best dev score (ties: the earlier point)."""
    metric = results[0]["metric"]
    dev_scores = [result["dev"][metric] for result in results]
    best = sorted(range(len(results)), key=lambda i: -dev_scores[i])[:BEST_OF]
    chosen = [results[i] for i in best]
    summary = {
        key: results[0][key] for key in ("name", "column", "setting", "metric", "source_lang")
    }
    summary.update(
        best_points=[point_name(points[i]) for i in best],
        dev=float(np.mean([dev_scores[i] for i in best])),
        test={lang: float(np.mean([r["test"][lang][metric] for r in chosen])) for lang in results[0]["test"]},
        points=[
            {"point": point, "name": point_name(point), "dev": result["dev"][metric],
             "test": {lang: scores[metric] for lang, scores in result["test"].items()}}
            for point, result in zip(points, results)
        ],
    )
    if "majority_baseline" in results[0]:
        summary["majority_baseline"] = results[0]["majority_baseline"]
    return summary


def read_summaries(root) -> List[Tuple[Path, dict]]:
    """(folder, summary) of every finished grid below ``root``, in path order."""
    return [(path.parent, json.loads(path.read_text(encoding="utf-8"))) for path in sorted(Path(root).rglob(SUMMARY))]


def best_result(grid_dir: Path, summary: dict) -> dict:
    """The result.json of the summary's best point (every chosen point has the same data)."""
    return read_result(Path(grid_dir) / summary["best_points"][0])
