"""Where jobs run: the SLURM cluster when a controller answers, else this machine.

Also what the launcher asks SLURM before and after submitting: the size of a partition's
nodes (to refuse impossible requests early) and the state of jobs. States come from
``squeue`` rather than ``sacct``, so clusters without accounting (such as
``slurm/local_cluster.sh``) work too.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Sequence

import submitit

from slurm.config import CLUSTERS, LaunchError, Resources

# The folder that holds the ``slurm`` package: jobs start there, so they import it as
# ``python -m slurm.launch`` does.
REPO = Path(__file__).resolve().parents[1]

# SLURM job states in which a job may still run (or run again)
# how long stopped local jobs get to end before they are killed
STOP_GRACE_S = 10.0
LOCAL_POLL_S = 2.0  # how often run_here looks at its jobs

ACTIVE_STATES = {
    "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
    "RESIZING", "SUSPENDED", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD",
}


def _run(command: List[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def slurm_answers() -> bool:
    """True when a SLURM controller answers ``scontrol ping``."""
    if shutil.which("scontrol") is None:
        return False
    try:
        return "is UP" in _run(["scontrol", "ping"], timeout=20).stdout
    except subprocess.TimeoutExpired:
        return False


def choose_cluster(requested: str) -> str:
    if requested not in CLUSTERS:
        raise LaunchError(f"--cluster {requested!r}: expected one of {CLUSTERS}")
    if requested == "auto":
        return "slurm" if slurm_answers() else "local"
    if requested == "slurm" and not slurm_answers():
        raise LaunchError(
            "--cluster slurm: no SLURM controller answers 'scontrol ping' "
            "(for a one-node cluster on this machine: slurm/local_cluster.sh up)"
        )
    return requested


@dataclass
class NodeSize:
    cpus: int
    mem_mb: int
    gpus: int
    where: str  # for messages: "a node of partition X" or "this machine"


def _first_number(text: str) -> int:
    digits = "".join(c for c in text.split("(")[0].rstrip("+") if c.isdigit())
    return int(digits) if digits else 0


def _gres_gpus(gres: str) -> int:
    """GPUs in a GRES string such as gpu:8, gpu:a100:4(S:0-1) or (null)."""
    return sum(_first_number(part.split(":")[-1]) for part in gres.split(",") if part.startswith("gpu"))


def node_size(cluster: str, partition=None) -> NodeSize:
    """The largest node a job can get: from ``sinfo`` on SLURM, else this machine."""
    if cluster == "local":
        import torch

        mem_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
        return NodeSize(os.cpu_count() or 1, mem_mb, torch.cuda.device_count(), "this machine")
    result = _run(["sinfo", "-h", "-o", "%P|%c|%m|%G"])
    if result.returncode != 0:
        raise LaunchError(f"sinfo failed: {result.stderr.strip()}")
    rows = [line.split("|") for line in result.stdout.splitlines() if line.count("|") == 3]
    default = [r[0].rstrip("*") for r in rows if r[0].endswith("*")]
    name = partition or (default[0] if default else None)
    mine = [r for r in rows if r[0].rstrip("*") == name]
    if not mine:
        known = sorted({r[0].rstrip("*") for r in rows})
        raise LaunchError(f"--partition {name}: SLURM has no such partition (partitions: {', '.join(known)})")
    return NodeSize(
        max(_first_number(r[1]) for r in mine),
        max(_first_number(r[2]) for r in mine),
        max(_gres_gpus(r[3]) for r in mine),
        f"a node of partition {name}",
    )


def check_resources(res: Resources, size: NodeSize, cluster: str) -> None:
    """Refuse what no node can give, naming the option, before anything is submitted."""
    for option in ("nodes", "tasks_per_node", "cpus_per_task", "timeout_min"):
        if getattr(res, option) < 1:
            raise LaunchError(f"--{option.replace('_', '-')} is {getattr(res, option)}: it must be at least 1")
    if res.gpus_per_node < 0 or res.mem_gb <= 0:
        raise LaunchError("--gpus-per-node must be 0 or more and --mem-gb above 0")
    if cluster == "local" and res.nodes > 1:
        raise LaunchError(f"--nodes {res.nodes}: without SLURM, jobs run on this machine only (one node)")
    cpus = res.tasks_per_node * res.cpus_per_task
    if cpus > size.cpus:
        raise LaunchError(
            f"--tasks-per-node {res.tasks_per_node} x --cpus-per-task {res.cpus_per_task} = {cpus} CPUs per node, "
            f"but {size.where} has {size.cpus}"
        )
    if cluster == "slurm" and res.mem_gb * 1024 > size.mem_mb:
        raise LaunchError(f"--mem-gb {res.mem_gb:g}: {size.where} has {size.mem_mb / 1024:.1f} GB")
    if res.gpus_per_node > size.gpus:
        raise LaunchError(f"--gpus-per-node {res.gpus_per_node}: {size.where} has {size.gpus} GPUs")
    if res.gpus_per_node and res.tasks_per_node != res.gpus_per_node:
        raise LaunchError(
            f"--tasks-per-node {res.tasks_per_node} with --gpus-per-node {res.gpus_per_node}: "
            "give each GPU its own task (the same number)"
        )


def make_executor(folder, res: Resources, cluster: str, name: str, held: bool = False,
                  after: Sequence[str] = ()) -> submitit.AutoExecutor:
    """A submitit executor for ``res``; ``held`` submits SLURM jobs on hold (see ``release``);
    ``after``: SLURM job ids that must end well first (a job whose prerequisite fails is cancelled)."""
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster, slurm_max_num_timeout=res.max_num_timeout)
    params = dict(
        name=name,
        nodes=res.nodes,
        tasks_per_node=res.tasks_per_node,
        cpus_per_task=res.cpus_per_task,
        mem_gb=res.mem_gb,
        timeout_min=res.timeout_min,
        slurm_signal_delay_s=res.signal_delay_s,
        slurm_additional_parameters={
            "chdir": str(REPO),
            **({"hold": True} if held else {}),
            **({"dependency": "afterok:" + ":".join(after), "kill_on_invalid_dep": "yes"} if after else {}),
        },
    )
    if res.gpus_per_node:
        params["gpus_per_node"] = res.gpus_per_node
    if executor.cluster == "local":
        # SLURM binds a task to its cores; a local job would use every core in each process,
        # and two runs side by side oversubscribe the machine (6x slower on 2 cores). The
        # job inherits this process's environment; submitit's local_setup would run it under
        # a shell that signals (Ctrl-C, stop_local_jobs) do not pass through.
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(res.cpus_per_task)
    for option in ("partition", "account", "qos", "constraint"):
        if getattr(res, option) is not None:
            params[f"slurm_{option}"] = getattr(res, option)
    executor.update_parameters(**params)
    return executor


def release(job_id: str) -> None:
    result = _run(["scontrol", "release", job_id])
    if result.returncode != 0:
        raise RuntimeError(f"scontrol release {job_id} failed: {result.stderr.strip()}")


def cancel(job_ids: Sequence[str]) -> None:
    if job_ids:
        result = _run(["scancel", *job_ids])
        if result.returncode != 0:
            raise RuntimeError(f"scancel {' '.join(job_ids)} failed: {result.stderr.strip()}")


def queue_states(controller_required: bool = False, attempts: int = 3) -> Dict[str, str]:
    """{job id: state} of this user's jobs that SLURM still knows (array tasks as 12_3).

    No controller answering means {} (a machine without SLURM queues nothing), except where
    ``controller_required``: a caller about to submit, or waiting for jobs, must not take a
    controller too busy to answer for an empty queue (it would submit again, or stop waiting),
    so it retries, then gets a LaunchError. A failing squeue is retried, then a LaunchError."""
    for attempt in range(attempts):
        if attempt:
            time.sleep(2.0 * attempt)
        if not slurm_answers():  # squeue would retry for seconds before failing
            if not controller_required:
                return {}
            error = "no SLURM controller answers 'scontrol ping'"
            continue
        result = _run(["squeue", "--me", "-h", "-r", "--states=all", "-o", "%i|%T"])
        if result.returncode == 0:
            return dict(line.split("|", 1) for line in result.stdout.split() if "|" in line)
        error = f"squeue failed: {result.stderr.strip() or f'exit code {result.returncode}'}"
    raise LaunchError(f"{error} ({attempts} tries)")


def wait_until_ended(job_ids: Iterable[str], timeout_s: float, poll_s: float = 2.0) -> Dict[str, str]:
    """Wait until SLURM holds none of the jobs in an active state; returns their last states."""
    job_ids = list(job_ids)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            states = queue_states(controller_required=True)
            last = {job: states.get(job, "ENDED") for job in job_ids}
            if not any(state in ACTIVE_STATES for state in last.values()):
                return last
        except LaunchError:  # a controller too busy to answer: the jobs have not ended for that
            last = {job: "UNKNOWN" for job in job_ids}
        if time.monotonic() > deadline:
            raise TimeoutError(f"jobs still active after {timeout_s:.0f} s: {last}")
        time.sleep(poll_s)


def _descendants(pid: int) -> List[int]:
    """Processes started by ``pid``, recursively, from Linux's /proc (none where it is absent)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (command) state ppid ...": the command may hold spaces and parentheses
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # the process ended meanwhile
            continue
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def stop_local_jobs(jobs, grace_s: float = STOP_GRACE_S) -> None:
    """Stop submitit local jobs and return once they have ended.

    submitit's ``cancel`` sends SIGINT to a job's controller, which sends it on to the
    tasks (fairseq stops in KeyboardInterrupt) and kills them a second later. A job still
    there after ``grace_s`` is killed with its tasks.
    """
    for job in jobs:
        job.cancel(check=False)
    deadline = time.monotonic() + grace_s
    while not all(job.done() for job in jobs) and time.monotonic() < deadline:
        time.sleep(0.1)
    for job in jobs:
        if not job.done():
            controller = int(job.job_id)  # a local job's id is its controller's pid
            for pid in [*_descendants(controller), controller]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            job.wait()


class LocalJobFailed(RuntimeError):
    pass


def _last_error(job, error: BaseException) -> str:
    """The exception line of a failed job's traceback, from its log (submitit's own error
    names the job's files)."""
    try:
        lines = [line for line in job.paths.stderr.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    raised = [line for line in lines if not line.startswith(" ") and ("Error" in line or "Exception" in line)]
    return (raised or str(error).strip().splitlines() or [type(error).__name__])[-1]


def run_here(todo: Sequence, start: Callable, capacity: int, cores: Callable = lambda item: 1,
             ready: Callable = lambda item, ended: True, name: Callable = str, on_event=None, on_poll=None) -> List:
    """Run ``todo`` on this machine as submitit local jobs (``start(item)`` submits one), in
    order, each once ``ready(item, ended)`` (``ended``: the names that finished here), using
    at most ``capacity`` cores (``cores(item)`` each; one item always runs). Returns the items
    in the order they finished. ``on_event(kind, item)`` hears of each start and end,
    ``on_poll()`` is called every poll. A failure stops the other jobs and names the failed
    one's log; so does an interrupt (their next run resumes them)."""
    waiting, running, ended, order = list(todo), {}, set(), []
    try:
        while waiting or running:
            used = sum(cores(item) for item, _ in running.values())
            for item in list(waiting):
                if ready(item, ended) and (not running or used + cores(item) <= capacity):
                    waiting.remove(item)
                    running[name(item)] = (item, start(item))
                    used += cores(item)
                    if on_event:
                        on_event("started", item)
            if not running:
                raise LocalJobFailed(f"nothing can start: {', '.join(map(name, waiting))} wait for what never ran")
            time.sleep(LOCAL_POLL_S)
            for key, (item, job) in list(running.items()):
                if job.done():
                    del running[key]
                    error = job.exception()
                    if error is not None:
                        raise LocalJobFailed(f"{key} failed: {_last_error(job, error)}\n  its log: {job.paths.stderr}")
                    ended.add(key)
                    order.append(item)
                    if on_event:
                        on_event("done", item)
            if on_poll:
                on_poll()
    finally:
        stop_local_jobs([job for _, job in running.values()])
    return order
