"""Checking runs and submitting them: one job per run, several runs as one SLURM job array.

Everything that can be checked is checked before the first submission, so a bad grid
submits nothing. A run that is finished, or whose job SLURM still holds, is skipped; a
run whose folder another live process writes (its lock, ``xling.run_lock``) is
refused. Interrupting a local run stops its job.
"""

import dataclasses
import datetime
import logging
import os
from pathlib import Path
from typing import List, Sequence

from xling import run_lock
from slurm.cluster import make_executor, release, stop_local_jobs
from slurm.config import PRECISIONS, LaunchError, Resources
from slurm.pretrain import LAUNCHER_KEYS, PretrainJob, compose_config, config_precision
from slurm.runs import SUBMISSION, SUBMITIT, PretrainRun, needs_submission, run_state, write_json

logger = logging.getLogger(__name__)


def known_settings(config_dir: Path) -> List[str]:
    return sorted(p.stem for p in Path(config_dir).glob("*.yaml") if p.stem != "pretrain")


def prepare_run(run: PretrainRun, res: Resources, data_ready: bool = True) -> PretrainRun:
    """``run`` checked, with its precision decided; a LaunchError names what is wrong.
    ``data_ready=False``: the data folder is made by a job that has not run yet."""
    where = f"run {run.name}"
    config_file = Path(run.config_dir) / f"{run.config}.yaml"
    if not config_file.is_file():
        raise LaunchError(
            f"{where}: unknown setting {run.config!r}: there is no {config_file} "
            f"(settings in {run.config_dir}: {', '.join(known_settings(run.config_dir))})"
        )
    if data_ready and not Path(run.data).is_dir():
        raise LaunchError(f"{where}: data folder {run.data} does not exist")
    if not run.langs or len(set(run.langs)) != len(run.langs) or not all(run.langs):
        raise LaunchError(f"{where}: languages {run.langs}: give distinct languages such as en,fr")
    for override in run.overrides:
        if override.lstrip("+~").startswith(LAUNCHER_KEYS):
            raise LaunchError(f"{where}: override {override!r} is set by the launcher; remove it")
    owner = run_lock.holder(run.folder)
    if owner is not None:
        raise LaunchError(
            f"{where}: {run.folder} is being written by {run_lock.describe(owner)}; "
            "wait for it to end, or stop it (a rerun then resumes)"
        )
    if run.precision is not None and run.precision not in PRECISIONS:
        raise LaunchError(f"{where}: precision {run.precision!r}: expected one of {PRECISIONS}")
    cuda = res.gpus_per_node > 0
    try:
        cfg = compose_config(dataclasses.replace(run, cuda=cuda))
    except Exception as error:  # hydra's errors name the override or key
        raise LaunchError(f"{where}: {config_file} with overrides {run.overrides}: {error}") from None
    saving = cfg.checkpoint
    if saving.no_save or saving.no_last_checkpoints or saving.save_interval_updates <= 0:
        raise LaunchError(
            f"{where}: a requeued run resumes from checkpoint_last.pt, so it needs regular saves; "
            f"checkpoint.save_interval_updates={saving.save_interval_updates}, no_save={saving.no_save}, "
            f"no_last_checkpoints={saving.no_last_checkpoints}"
        )
    precision = run.precision or config_precision(cfg)
    if precision == "fp16" and not cuda:
        source = "asked for" if run.precision else f"set by {config_file}"
        raise LaunchError(f"{where}: precision fp16 ({source}) needs GPUs: give --gpus-per-node, --bf16 or --fp32")
    return dataclasses.replace(run, precision=precision, cuda=cuda)


def pending(runs: Sequence[PretrainRun], queue) -> List[PretrainRun]:
    """The runs to submit: neither finished nor held by SLURM."""
    return [run for run in runs if needs_submission(run_state(run.folder, queue)[0])]


def record_submission(run: PretrainRun, job_id: str, cluster: str) -> None:
    """RUN/submission.json: the latest submission of ``run`` (see slurm.runs)."""
    now = datetime.datetime.now().isoformat(timespec="seconds")
    record = {"job_id": job_id, "cluster": cluster, "submitted": now, "run": dataclasses.asdict(run)}
    write_json(run.folder / SUBMISSION, record)


def submit_runs(runs: Sequence[PretrainRun], res: Resources, cluster: str, job_name: str, array_dir: Path, job=None):
    """Submit ``job(run)`` (default: a ``PretrainJob``) for each of ``runs``; returns the submitit jobs.

    On SLURM, several runs become one job array whose tasks write their submitit logs to
    ``array_dir/.submitit/<job id>``, linked from each run's ``submitit`` folder. The
    array is submitted on hold and released once those folders exist: SLURM does not
    create log folders. Without SLURM, the runs train one after another on this machine.
    """
    job = job or PretrainJob()
    for run in runs:
        (run.folder / SUBMITIT).mkdir(parents=True, exist_ok=True)
    if cluster == "slurm" and len(runs) > 1:
        executor = make_executor(Path(array_dir) / ".submitit" / "%j", res, cluster, job_name, held=True)
        with executor.batch():
            jobs = [executor.submit(job, run) for run in runs]
        for run, submitted in zip(runs, jobs):
            link = run.folder / SUBMITIT / submitted.job_id
            link.symlink_to(os.path.relpath(submitted.paths.folder, link.parent), target_is_directory=True)
            record_submission(run, submitted.job_id, cluster)
        release(jobs[0].job_id.split("_")[0])
        return jobs
    jobs = []
    for run in runs:
        executor = make_executor(run.folder / SUBMITIT, res, cluster, job_name)
        jobs.append(executor.submit(job, run))
        record_submission(run, jobs[-1].job_id, cluster)
        if cluster == "local":
            try:
                error = jobs[-1].exception()  # waits for the run
            except BaseException:  # interrupted (Ctrl-C, SIGTERM): the job stops too
                stop_local_jobs(jobs[-1:])
                raise
            if error is not None:
                logger.warning("run %s failed (logs in %s): %s", run.name, run.folder / SUBMITIT, error)
    return jobs
