"""The demo's pretraining: its settings as launcher runs (``slurm.runs.PretrainRun``),
trained by the launcher's own job on this machine (submitit's local executor), a few at a
time, one core each. A finished run (``done.json``) is skipped; an interrupted one
resumes from ``checkpoint_last.pt``, as a requeued cluster job does. If another live
process writes one of the run folders (another demo), nothing starts; if the stage is
interrupted or fails, the jobs it started are stopped before it returns."""

import time
from pathlib import Path
from typing import Dict, List

from tqdm import tqdm

from xling import run_lock
from fairseq_ext.demo.config import DemoConfig
from slurm.cluster import make_executor, run_here
from slurm.config import Resources
from slurm.pretrain import PretrainJob
from slurm.runs import CHECKPOINTS, DONE, SUBMITIT, PretrainRun, progress
from slurm.submit import prepare_run, record_submission


def plan_runs(cfg: DemoConfig, pair: str, data_dir: Path) -> List[PretrainRun]:
    """One run per bilingual setting, and one per language of each monolingual setting."""
    langs = cfg.langs(pair)
    config_dir = Path(cfg.pretrain.config_dir).resolve()
    runs = []
    for name, spec in cfg.pretrain.settings.items():
        for run_langs in ([[lang] for lang in langs] if spec.monolingual else [langs]):
            overrides = [*cfg.pretrain.overrides, f"optimization.max_update={cfg.scaled_updates(name)}"]
            if spec.monolingual:  # its criterion logs no loss_en
                overrides.append("checkpoint.best_checkpoint_metric=loss")
            run_name = f"{name}_{run_langs[0]}" if spec.monolingual else name
            runs.append(PretrainRun(
                name=run_name,
                config_dir=str(config_dir),
                config=spec.config,
                data=str((data_dir / "bin" / spec.data.format(lang=run_langs[0])).resolve()),
                langs=run_langs,
                seed=1,
                run_dir=str((cfg.out / pair / "pretrain" / run_name).resolve()),
                precision=cfg.pretrain.precision,  # auto: decided in the job, for its node
                overrides=overrides,
            ))
    return runs


def max_update(run: PretrainRun) -> int:
    """The updates ``run`` trains for: its (last) ``optimization.max_update`` override."""
    values = [o.split("=", 1)[1] for o in run.overrides if o.startswith("optimization.max_update=")]
    return int(values[-1])


def checkpoint(run: PretrainRun) -> Path:
    """The model the later stages use: the best on English (or the language's) dev loss."""
    return run.folder / CHECKPOINTS / "checkpoint_best.pt"


def is_bilingual(run: PretrainRun) -> bool:
    return len(run.langs) > 1


def pretrain(runs: List[PretrainRun], workers: int, desc: str, gpus: int = 0) -> Dict[str, float]:
    """Train the unfinished runs, ``workers`` at a time (``gpus`` each, else one core each),
    with the study's scheduler (``slurm.cluster.run_here``); returns each trained run's seconds."""
    resources = Resources(cpus_per_task=1, gpus_per_node=gpus, timeout_min=24 * 60, cluster="local")
    queue = [run for run in runs if not (run.folder / DONE).exists()]
    busy = [f"{run.folder} ({run_lock.describe(owner)})" for run in queue if (owner := run_lock.holder(run.folder))]
    if busy:
        raise RuntimeError(f"run folders in use by another process, not started: {'; '.join(busy)}")
    started, seconds = {}, {}

    def start(run: PretrainRun):
        run = prepare_run(run, resources)
        executor = make_executor(run.folder / SUBMITIT, resources, "local", f"demo-{run.name}")
        job = executor.submit(PretrainJob(), run)
        record_submission(run, job.job_id, "local")
        return job

    def timed(kind: str, run: PretrainRun) -> None:
        if kind == "started":
            started[run.name] = time.perf_counter()
        else:
            seconds[run.name] = time.perf_counter() - started[run.name]

    def updates_done():
        return sum(max_update(r) if (r.folder / DONE).exists() else progress(r.folder, r.langs)["updates"] for r in runs)

    bar = tqdm(total=sum(map(max_update, runs)), initial=updates_done(), desc=desc, unit="upd", dynamic_ncols=True)

    def show_progress():
        bar.n = updates_done()
        bar.refresh()

    try:
        run_here(queue, start, workers, name=lambda run: f"pretraining {run.name}", on_event=timed, on_poll=show_progress)
    finally:  # a failure or an interrupt has stopped the jobs: the next demo resumes them
        bar.close()
    return seconds
