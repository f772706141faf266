"""A study: the paper's whole pipeline for one study file, as jobs that wait for what they need.

::

    python -m slurm.launch study configs/study/paper.yaml    # submit what is missing
    python -m slurm.launch status configs/study/paper.yaml   # one table of every job

A study file is a demo config (``fairseq_ext.demo.config``: pairs, corpora, Table 1
settings, transfer tasks, analyses) plus the study's name, where it runs and each stage's
resources. Its jobs, each with a folder (``done.json`` when finished, ``submission.json``
for the latest submission, ``submitit/`` for the logs)::

    data/<pair>/text/<T>ofN   the corpus pipeline's text phase, task T of data_tasks: its input
                             shards extracted and cleaned (preprocess.run's phases)
    data/<pair>/corpus       merge, evaluation sets, splits, vocabularies  needs every text task
    data/<pair>/encode/<T>ofN  part T of the text encoded                    needs data/<pair>/corpus
    data/<pair>              the pair's data folders assembled               needs every encode task
    pretrain/<pair>/<model>  one per model of the pair (folder: the run's)  needs data/<pair>
    transfer/<pair>          every bilingual model x task     needs the pair's bilingual models
    analysis/<pair>          Section 5                        needs the pair's models
    report                   the demo's report                needs every transfer and analysis

The jobs run the demo's own stage code, so the report is the demo's. On SLURM each stage
is submitted as job arrays whose tasks start when what they need has finished
(``--dependency=afterok``); a job whose prerequisite fails is cancelled by SLURM
(``--kill-on-invalid-dep``). Without SLURM the same jobs run on this machine through
submitit's local executor, as many at a time as ``jobs`` allows.

A rerun submits only the jobs that are neither done nor held by SLURM, and the queued
jobs that wait for one of them (cancelled first): a cancelled or failed study resumes
(pretraining from its last checkpoint), a finished one submits nothing. Submissions hold a
lock on the study folder, so two reruns racing submit each job once.
"""

import dataclasses
import datetime
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import submitit

from xling import config_loader, run_lock
from fairseq_ext.demo.config import DemoConfig, check_config
from preprocess.run import task_label
from slurm.cluster import ACTIVE_STATES, cancel, choose_cluster, make_executor, queue_states, release, run_here
from slurm.config import LaunchError, Resources
from slurm.runs import (DONE, SUBMISSION, SUBMITIT, PretrainRun, needs_submission, progress, read_json,
                        run_state, write_json)

STAGES = ("data", "pretrain", "transfer", "analysis", "report")


def _resources(**values):
    return field(default_factory=lambda: Resources(**values))


@dataclass
class StageResources:
    """What each job of a stage asks for (``Resources``: nodes, tasks, GPUs, CPUs, memory, time)."""

    data: Resources = _resources(cpus_per_task=2, mem_gb=8.0, timeout_min=240)
    pretrain: Resources = _resources(cpus_per_task=1, mem_gb=4.0, timeout_min=24 * 60)
    transfer: Resources = _resources(cpus_per_task=2, mem_gb=8.0, timeout_min=240)
    analysis: Resources = _resources(cpus_per_task=1, mem_gb=8.0, timeout_min=240)
    report: Resources = _resources(cpus_per_task=1, mem_gb=2.0, timeout_min=30)


@dataclass
class StudyConfig(DemoConfig):
    name: str = field(default="xling-study", metadata={"help": "the study's SLURM job names: <name>-<stage>"})
    cluster: str = field(
        default="auto", metadata={"help": "slurm; local (this machine, submitit's local executor); auto: slurm if it answers"}
    )
    resources: StageResources = field(default_factory=StageResources)
    data_tasks: int = field(
        default=1, metadata={"help": "array tasks per pair sharing the corpus pipeline's text and encode phases "
                                     "(each with resources.data)"})

    @property
    def folder(self) -> Path:
        """Where the study keeps its jobs' folders (the models' are their run folders)."""
        return self.out / "study"


def load_study(path, overrides: Sequence[str] = ()) -> StudyConfig:
    """The study file at ``path`` with ``key=value`` changes; a LaunchError names what is wrong."""
    cfg = config_loader.load(StudyConfig, [path], overrides, "study file")
    try:
        check_config(cfg)
    except config_loader.ConfigError as error:  # the demo's checks: a DemoError naming the key
        raise LaunchError(f"study file {path}: {error}") from None
    for stage in STAGES:
        res = getattr(cfg.resources, stage)
        if res.cluster != "auto":
            raise LaunchError(f"study file {path}: resources.{stage}.cluster: give the study's cluster at the top (cluster: ...)")
        if stage != "pretrain" and (res.nodes != 1 or res.tasks_per_node != 1):
            raise LaunchError(f"study file {path}: resources.{stage}: one node and one task (only pretraining spreads)")
    if cfg.data_tasks < 1:
        raise LaunchError(f"study file {path}: data_tasks: {cfg.data_tasks} must be at least 1")
    if cfg.pretrain.gpus not in (0, cfg.resources.pretrain.gpus_per_node):
        raise LaunchError(f"study file {path}: pretrain.gpus: give a study's GPUs as resources.pretrain.gpus_per_node")
    cfg.pretrain.gpus = cfg.resources.pretrain.gpus_per_node
    # jobs start in the repository (SLURM) or here (this machine): absolute paths mean the same in both
    for key in ("out_dir", "data_dir", "data_config"):
        setattr(cfg, key, str(Path(getattr(cfg, key)).resolve()))
    cfg.transfer.config = str(Path(cfg.transfer.config).resolve())
    from fairseq_ext.demo.run import data_config

    for pair in cfg.pairs:  # the corpus configs too, before anything is submitted
        try:
            data_config(cfg, pair)
        except config_loader.ConfigError as error:
            raise LaunchError(f"study file {path}: data_config for {pair}: {error}") from None
    return cfg


@dataclass
class Job:
    """One job of a study. ``key`` names it (``pretrain/en-fr/default``); ``needs``: the keys
    of the jobs that must have finished before it starts."""

    stage: str
    key: str
    folder: Path
    needs: List[str]
    pair: str = ""
    run: Optional[PretrainRun] = None  # pretraining jobs: the run they train
    phase: str = ""  # data jobs: the corpus pipeline's phase (preprocess.run.PHASES) ...
    task: Optional[int] = None  # ... and, in its array phases, the task

    @property
    def done(self) -> bool:
        return (self.folder / DONE).exists()


def plan(cfg: StudyConfig) -> List[Job]:
    """Every job of the study, each after the jobs it needs."""
    from fairseq_ext.demo.pretrain import is_bilingual, plan_runs

    jobs: List[Job] = []
    for pair in cfg.pairs:
        n, folder = cfg.data_tasks, cfg.folder / "data" / pair
        labels = [task_label(t, n) for t in range(n)]
        text = [Job("data", f"data/{pair}/text/{label}", folder / "text" / label, [], pair, phase="text", task=t)
                for t, label in enumerate(labels)]
        corpus = Job("data", f"data/{pair}/corpus", folder / "corpus", [j.key for j in text], pair, phase="corpus")
        encode = [Job("data", f"data/{pair}/encode/{label}", folder / "encode" / label, [corpus.key], pair,
                      phase="encode", task=t) for t, label in enumerate(labels)]
        data = Job("data", f"data/{pair}", folder / "assemble", [j.key for j in encode], pair, phase="data")
        models = [
            Job("pretrain", f"pretrain/{pair}/{run.name}", run.folder, [data.key], pair,
                dataclasses.replace(run, cuda=cfg.resources.pretrain.gpus_per_node > 0))
            for run in plan_runs(cfg, pair, cfg.pair_data_dir(pair))
        ]
        bilingual = [m.key for m in models if is_bilingual(m.run)]
        jobs += [
            *text, corpus, *encode, data, *models,
            Job("transfer", f"transfer/{pair}", cfg.folder / "transfer" / pair, bilingual, pair),
            Job("analysis", f"analysis/{pair}", cfg.folder / "analysis" / pair, [m.key for m in models], pair),
        ]
    jobs.append(Job("report", "report", cfg.folder / "report", [j.key for j in jobs if j.stage in ("transfer", "analysis")]))
    return jobs


# ---- what a job does, in its task ----------------------------------------------------------

def _data(cfg: StudyConfig, job: Job) -> None:
    from fairseq_ext.demo.run import data_config
    from preprocess.run import run as run_pipeline

    run_pipeline(data_config(cfg, job.pair), phase=job.phase, task=job.task, tasks=cfg.data_tasks)


def _pretrain(cfg: StudyConfig, job: Job) -> None:
    from slurm.pretrain import PretrainJob

    PretrainJob()(job.run)


def _transfer(cfg: StudyConfig, job: Job) -> None:
    from fairseq_ext.demo.pretrain import plan_runs
    from fairseq_ext.demo.transfer import plan_grids, transfer

    data = cfg.pair_data_dir(job.pair)
    grids = plan_grids(cfg, job.pair, plan_runs(cfg, job.pair, data), (data / "EVAL").resolve())
    workers = len(os.sched_getaffinity(0))
    transfer(grids, workers, cfg.out / job.pair / "transfer", f"transfer {job.pair}", job.folder / "transfer.log")


def _analysis(cfg: StudyConfig, job: Job) -> None:
    from fairseq_ext.demo.analysis import analyse
    from fairseq_ext.demo.pretrain import plan_runs

    data = cfg.pair_data_dir(job.pair)
    analyse(cfg, job.pair, plan_runs(cfg, job.pair, data), data)


def _report(cfg: StudyConfig, job: Job) -> None:
    from fairseq_ext.demo.report import write_report

    write_report(cfg, timings(plan(cfg)))


RUN = {"data": _data, "pretrain": _pretrain, "transfer": _transfer, "analysis": _analysis, "report": _report}


class Step(submitit.helpers.Checkpointable):
    """``Step()(cfg, job)`` runs ``job`` in this task; then task 0 adds when it ran to its
    ``done.json`` (a pretraining run's own record is kept). A requeued job (time limit,
    preemption) runs the same step again: pretraining resumes from its checkpoint, the other
    stages reuse what they had finished."""

    def __call__(self, cfg: StudyConfig, job: Job) -> str:
        started = time.time()
        RUN[job.stage](cfg, job)
        if submitit.JobEnvironment().global_rank == 0:
            record, finished = read_json(job.folder / DONE) or {}, time.time()
            write_json(job.folder / DONE, {
                **record, "key": job.key, "started": started, "finished": finished,
                "seconds": round(finished - started, 1), "cpus": len(os.sched_getaffinity(0)),
                "host": socket.gethostname(),
            })
        return job.key


def timings(jobs: Sequence[Job]) -> Dict[str, dict]:
    """The demo's timings (``<stage> <pair>`` -> seconds from the first start to the last end
    of the stage's jobs for the pair), from the finished jobs' ``done.json``."""
    spans: Dict[str, list] = {}
    for job in jobs:
        record = read_json(job.folder / DONE) if job.stage != "report" else None
        if record and "started" in record:
            spans.setdefault(f"{job.stage} {job.pair}", []).append(record)
    return {
        name: {
            "seconds": round(max(r["finished"] for r in records) - min(r["started"] for r in records), 1),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(max(r["finished"] for r in records))),
            "cores": max(r["cpus"] for r in records),  # that a job saw: its node's, or what SLURM bound it to
            "processes": _most_at_once(records),
        }
        for name, records in spans.items()
    }


def _most_at_once(records: Sequence[dict]) -> int:
    """The most of these jobs that ran at the same time."""
    edges = sorted([(r["started"], 1) for r in records] + [(r["finished"], -1) for r in records])
    running = most = 0
    for _, step in edges:  # an end before a start at the same instant
        running += step
        most = max(most, running)
    return most


# ---- submitting ----------------------------------------------------------------------------

def study_lock(cfg: StudyConfig, wait: bool) -> run_lock.RunLock:
    """Hold the study folder's lock (``xling.run_lock``): a second rerun waits (``wait``) or is refused."""
    try:
        return run_lock.acquire(cfg.folder, wait=wait)
    except run_lock.RunFolderBusy:
        raise LaunchError(f"study {cfg.folder} is being run by another process "
                          f"({run_lock.describe(run_lock.holder(cfg.folder))}); "
                          "wait for it, or stop it (a rerun resumes)") from None


def states(jobs: Sequence[Job], controller_required: bool = False) -> Dict[str, tuple]:
    """key -> (state, job id): DONE, NEW, SLURM's state, or ENDED (see ``slurm.runs.run_state``);
    ``controller_required``: see ``slurm.cluster.queue_states``."""
    queue = queue_states(controller_required)
    return {job.key: run_state(job.folder, queue) for job in jobs}


def to_submit(jobs: Sequence[Job], known: Dict[str, tuple]) -> List[Job]:
    return [job for job in jobs if needs_submission(known[job.key][0])]


def record_submission(job: Job, job_id: str, cluster: str, log: str) -> None:
    """JOB/submission.json; a pretraining run's also holds its spec (``slurm.runs.read_submission``)."""
    previous = read_json(job.folder / SUBMISSION) or {}
    record = {
        "job_id": job_id, "cluster": cluster, "key": job.key, "log": log,
        "submitted": datetime.datetime.now().isoformat(timespec="seconds"),
        "attempts": previous.get("attempts", 0) + 1,
    }
    if job.run is not None:
        record["run"] = dataclasses.asdict(job.run)
    write_json(job.folder / SUBMISSION, record)


def _check(cfg: StudyConfig, todo: Sequence[Job], cluster: str) -> None:
    """Refuse what cannot run before anything is submitted: resources no node has, bad runs
    (of ``todo``, the jobs to submit: a run that a live job trains holds its folder's lock)."""
    from slurm.cluster import check_resources, node_size
    from slurm.submit import prepare_run

    for stage in STAGES:
        res = getattr(cfg.resources, stage)
        try:
            check_resources(res, node_size(cluster, res.partition), cluster)
        except LaunchError as error:
            raise LaunchError(f"resources.{stage}: {error}") from None
    for job in todo:
        if job.run is not None:
            prepare_run(job.run, cfg.resources.pretrain, data_ready=False)


def submit(cfg: StudyConfig, jobs: Sequence[Job], dry_run: bool = False) -> List[tuple]:
    """Submit the study's missing jobs to SLURM, stage by stage, each array after what its
    jobs need; returns (job, job id) of each submitted (dry run: each that would be)."""
    with study_lock(cfg, wait=True):
        known = states(jobs, controller_required=True)  # a silent queue is not an empty one
        todo = to_submit(jobs, known)
        # a queued job waiting for one that is submitted again would wait for the old one,
        # which will never end well: it is cancelled and submitted again after the new one
        again = {job.key for job in todo}
        waiting_in_vain = []
        for job in jobs:  # plan order: a job's needs come first
            if job.key not in again and known[job.key][0] in ACTIVE_STATES and again.intersection(job.needs):
                waiting_in_vain.append(job)
                again.add(job.key)
        todo = [job for job in jobs if job.key in again]
        _check(cfg, todo, "slurm")
        if dry_run:
            return [(job, "") for job in todo]
        cancel([known[job.key][1] for job in waiting_in_vain])
        ids = {key: job_id for key, (state, job_id) in known.items() if state in ACTIVE_STATES and key not in again}
        submitted, remaining = [], list(todo)
        while remaining:  # in waves: the jobs whose needs are submitted (or done), one array per stage and needs
            pending = {job.key for job in remaining}
            wave = [job for job in remaining if not pending.intersection(job.needs)]
            if not wave:
                raise LaunchError(f"jobs that need each other: {sorted(pending)}")
            arrays: Dict[tuple, List[Job]] = {}
            for job in wave:
                arrays.setdefault((job.stage, tuple(sorted({ids[n] for n in job.needs if n in ids}))), []).append(job)
            for (stage, after), array in arrays.items():
                for job, job_id in zip(array, _submit_array(cfg, stage, array, after)):
                    ids[job.key] = job_id
                    submitted.append((job, job_id))
            remaining = [job for job in remaining if job.key not in ids]
        return submitted


def _submit_array(cfg: StudyConfig, stage: str, array: List[Job], after: Sequence[str]) -> List[str]:
    """One job array (submitted on hold, released once each job's log link exists)."""
    executor = make_executor(cfg.folder / ".submitit" / "%j", getattr(cfg.resources, stage), "slurm",
                             f"{cfg.name}-{stage}", held=True, after=after)
    with executor.batch():
        submitted = [executor.submit(Step(), cfg, job) for job in array]
    for job, one in zip(array, submitted):
        (job.folder / SUBMITIT).mkdir(parents=True, exist_ok=True)
        link = job.folder / SUBMITIT / one.job_id
        if not link.is_symlink():
            link.symlink_to(os.path.relpath(one.paths.folder, link.parent), target_is_directory=True)
        record_submission(job, one.job_id, "slurm", str(link / one.paths.stderr.name))
    release(submitted[0].job_id.split("_")[0])
    return [one.job_id for one in submitted]


def run_local(cfg: StudyConfig, jobs: Sequence[Job], on_event=None) -> List[str]:
    """Run the unfinished jobs on this machine, each once what it needs has finished, on at
    most ``cfg.workers`` cores at a time (``slurm.cluster.run_here``); returns the keys run.
    ``on_event(kind, job)`` hears of each start and end (``started``, ``done``)."""
    with study_lock(cfg, wait=False):
        finished = {job.key for job in jobs if job.done}
        todo = [job for job in jobs if job.key not in finished]
        _check(cfg, todo, "local")
        return [job.key for job in run_here(
            todo, lambda job: _start_local(cfg, job), cfg.workers,
            cores=lambda job: getattr(cfg.resources, job.stage).cpus_per_task,
            ready=lambda job, ended: all(n in finished or n in ended for n in job.needs),
            name=lambda job: job.key, on_event=on_event,
        )]


def _start_local(cfg: StudyConfig, job: Job):
    res = dataclasses.replace(getattr(cfg.resources, job.stage), cluster="local")
    executor = make_executor(job.folder / SUBMITIT, res, "local", f"{cfg.name}-{job.stage}")
    submitted = executor.submit(Step(), cfg, job)
    record_submission(job, submitted.job_id, "local", str(submitted.paths.stderr))
    return submitted


def launch(cfg: StudyConfig, dry_run: bool = False, on_event=None) -> List[tuple]:
    """Submit (SLURM) or run (this machine) what the study is missing; (job, job id) of each."""
    jobs = plan(cfg)
    if choose_cluster(cfg.cluster) == "slurm":
        return submit(cfg, jobs, dry_run)
    if dry_run:
        return [(job, "") for job in jobs if not job.done]
    by_key = {job.key: job for job in jobs}
    return [(by_key[key], "local") for key in run_local(cfg, jobs, on_event)]


# ---- the status table ----------------------------------------------------------------------

HEADERS = ["stage", "job", "id", "state", "attempts", "progress", "last metric"]


def status_rows(cfg: StudyConfig, jobs: Sequence[Job]) -> List[list]:
    """One row per job; a job that ended without finishing names its log."""
    from fairseq_ext.demo.pretrain import max_update

    known = states(jobs)
    rows = []
    for job in jobs:
        state, job_id = known[job.key]
        submission = read_json(job.folder / SUBMISSION) or {}
        attempts, done_so_far, metric = submission.get("attempts", 0), "", ""
        if job.run is not None:
            logged = progress(job.folder, job.run.langs)
            attempts = max(attempts, logged["attempts"])
            done_so_far = f"{max_update(job.run) if job.done else logged['updates']}/{max_update(job.run)} updates"
            metric = " ".join(f"loss {lang} {loss:.2f}" for lang, loss in logged["losses"].items())
        elif job.stage == "report" and job.done:
            metric = str(cfg.out / "report.md")
        if state not in ("DONE", "NEW") and state not in ACTIVE_STATES and submission.get("log"):
            ran = Path(submission["log"]).exists()
            metric = f"log: {submission['log']}" if ran else "did not start (cancelled, or what it needs failed)"
        name = job.key.split("/", 1)[1] if "/" in job.key else job.key
        rows.append([job.stage, name, job_id, state, attempts, done_so_far, metric])
    return rows
