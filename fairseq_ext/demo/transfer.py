"""The demo's zero-shot transfer: every bilingual model x stand-in task, through the
transfer grid (``fairseq_ext.transfer.grid``), its points spread over worker processes
of one core each; then Table 1's layout for the pair. Finished points are skipped. A
failure or an interrupt stops the workers at once (an unfinished point resumes from its
last finished epoch on the next run)."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import List

from tqdm import tqdm

from fairseq_ext.demo.config import DemoConfig
from fairseq_ext.demo.pretrain import checkpoint, is_bilingual
from fairseq_ext.transfer.config import merged_config, to_config
from fairseq_ext.transfer.finetune import RESULT
from fairseq_ext.transfer.grid import grid_points, point_name, run_grid
from fairseq_ext.transfer.table import write_table
from slurm.runs import PretrainRun


@dataclass
class TransferGrid:
    config: str
    overrides: List[str]
    out_dir: Path
    points: List[str]  # the grid's point folder names


def plan_grids(cfg: DemoConfig, pair: str, runs: List[PretrainRun], eval_dir: Path) -> List[TransferGrid]:
    grids = []
    for task in cfg.transfer.tasks:
        for run in filter(is_bilingual, runs):
            out_dir = cfg.out / pair / "transfer" / task / run.name
            overrides = [
                f"name={task}", f"setting={run.name}", f"model.name={run.name}",
                f"model.checkpoint={checkpoint(run)}", f"data.root={eval_dir}", f"out_dir={out_dir}",
                *cfg.transfer.overrides,
            ]
            grid = to_config(merged_config(cfg.transfer.config, overrides)).grid
            grids.append(TransferGrid(cfg.transfer.config, overrides, out_dir, [point_name(p) for p in grid_points(grid)]))
    return grids


def _init_worker(log_path: str) -> None:
    """One core; logs and stderr appended to the stage's log (which also keeps the runs'
    own progress bars off the terminal)."""
    import logging
    import sys

    import torch

    torch.set_num_threads(1)
    sys.stderr = open(log_path, "a", encoding="utf-8", buffering=1)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def _run_point(grid: TransferGrid, index: int) -> None:
    run_grid(grid.config, grid.overrides, index)


def _stop_pool(pool: ProcessPoolExecutor, workers: List[multiprocessing.Process]) -> None:
    """Cancel the queued points and end the running ones now: ``shutdown(wait=True)``,
    which leaving a ``with`` block does, would first run every queued point."""
    pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.join()


def transfer(grids: List[TransferGrid], workers: int, table_root: Path, desc: str, log_path: Path) -> List[Path]:
    """Run the unfinished points, then write each grid's summary and the pair's table."""
    todo = [(g, i) for g in grids for i, name in enumerate(g.points) if not (g.out_dir / name / RESULT).exists()]
    total = sum(len(g.points) for g in grids)
    with tqdm(total=total, initial=total - len(todo), desc=desc, unit="run", dynamic_ncols=True) as bar:
        if todo:
            context = multiprocessing.get_context("spawn")  # no forked torch thread pools
            others = set(multiprocessing.active_children())
            pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(str(log_path),))
            try:
                futures = {pool.submit(_run_point, g, i): (g, i) for g, i in todo}
                for future in as_completed(futures):
                    grid, index = futures[future]
                    if future.exception() is not None:
                        raise RuntimeError(
                            f"fine-tuning {grid.out_dir / grid.points[index]} failed: {future.exception()}"
                        ) from future.exception()
                    bar.update()
            finally:  # also on an error or an interrupt: an unfinished point resumes on the next run
                _stop_pool(pool, [p for p in multiprocessing.active_children() if p not in others])
    for grid in grids:  # every point is finished: this only writes summary.json
        run_grid(grid.config, grid.overrides)
    return list(write_table(table_root, table_root / "table1"))
