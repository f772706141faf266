"""The submitted callable: one fairseq pretraining process per SLURM task.

Each task reads its rank, the world size and a ``tcp://`` rendezvous on the job's first
node from submitit's job environment and gives them to fairseq explicitly. fairseq's own
defaults count the GPUs a task sees, which is one when SLURM gives each task its own GPU.

On USR2 (time limit or preemption) submitit calls ``checkpoint`` on task 0, which
resubmits this callable unchanged, and requeues the job. The rerun resumes from
``checkpoint_last.pt`` (or, if that file is unreadable, from the newest checkpoint that
loads: see ``fairseq_ext.checkpoints``), so a run loses at most the updates since its last
save (``checkpoint.save_interval_updates``).

Task 0 holds the run folder's lock (``xling.run_lock``) while it trains, and every
task checks it before the tasks meet, so a job refuses to start on a folder that another
live job writes.
"""

import dataclasses
import json
import logging
import os
import warnings
from pathlib import Path
from typing import List, Sequence, Tuple

import submitit

from xling import run_lock
from fairseq_ext.checkpoints import resume_point
from slurm.runs import CHECKPOINTS, DONE, TENSORBOARD, TRAIN_LOG, PretrainRun, write_json

logger = logging.getLogger(__name__)

USER_DIR = Path(__file__).resolve().parents[1] / "fairseq_ext"

# Set by the launcher for every run; a user override of one of them is refused.
LAUNCHER_KEYS = (
    "task.data", "task.langs", "common.user_dir", "common.seed", "common.cpu", "common.fp16", "common.bf16",
    "common.amp", "common.log_format", "common.tensorboard_logdir", "checkpoint.save_dir", "distributed_training.",
)


def quoted(value) -> str:
    """A hydra override value taken literally (paths, comma-separated lists, URLs)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def fairseq_overrides(run: PretrainRun) -> List[str]:
    """The run's hydra overrides, except where its tasks are placed and its precision."""
    return [
        *run.overrides,
        f"task.data={quoted(run.data)}",
        f"task.langs={quoted(','.join(run.langs))}",
        f"common.user_dir={quoted(USER_DIR)}",
        f"common.seed={run.seed}",
        f"common.cpu={str(not run.cuda).lower()}",
        "common.log_format=json",
        f"common.tensorboard_logdir={quoted(run.folder / TENSORBOARD)}",
        f"checkpoint.save_dir={quoted(run.folder / CHECKPOINTS)}",
    ]


def compose_config(run: PretrainRun, extra: Sequence[str] = ()):
    """The fairseq config of ``run``: its hydra config plus the overrides (as fairseq-hydra-train)."""
    from fairseq.dataclass.initialize import hydra_init
    from hydra import compose, initialize_config_dir

    import fairseq_ext  # noqa: F401 (registers the task, model, criterion and xling_adam)

    # fairseq validates a config against its schema stored under the config's own name,
    # which hydra 1.3 accepts with a deprecation warning. version_base "1.1" is what
    # fairseq-hydra-train runs with; it is also process-wide, and a newer base would make
    # fairseq's own hydra.experimental.initialize() raise in this process afterwards.
    # Hydra's reminders about both are for fairseq, not for the user: filtered before
    # initialize_config_dir, which warns on entry.
    hydra_init(run.config)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="(?s).*validated against ConfigStore schema")
        warnings.filterwarnings("ignore", message='(?s).*version_base="1.1" selects Hydra 1.1')
        with initialize_config_dir(config_dir=run.config_dir, version_base="1.1"):
            return compose(config_name=run.config, overrides=[*fairseq_overrides(run), *extra])


def config_precision(cfg) -> str:
    if cfg.common.bf16:
        return "bf16"
    return "fp16" if cfg.common.fp16 or cfg.common.amp else "fp32"


def precision_overrides(precision: str, cuda: bool) -> Tuple[List[str], str]:
    """fairseq's flags for ``precision``, and what they do, for the run log; ``auto`` is
    decided here, in the job, for the node it runs on.

    Both mixed precisions keep fp32 master weights, which the optimizer (``xling_adam``:
    apex's or torch's fused Adam) updates. fairseq's ``--amp`` (torch autocast) is not
    used: its AMPOptimizer unscales the gradients twice (GradScaler.unscale_ on the inner
    torch optimizer, then GradScaler.step on fairseq's wrapper of it).
    """
    reason = ""
    if precision == "auto":
        from fairseq_ext.mixed_precision import fastest_precision

        precision, why = fastest_precision(cuda)
        reason = f" (auto: {why})"
    flags = {"fp16": precision == "fp16", "bf16": precision == "bf16", "amp": False}
    mode = {
        "fp32": "fp32",
        "fp16": "fp16 weights, fp32 master weights, dynamic loss scaling (fairseq --fp16)",
        "bf16": "bf16 weights, fp32 master weights (fairseq --bf16)",
    }[precision]
    return [f"common.{flag}={str(on).lower()}" for flag, on in flags.items()], mode + reason


@dataclasses.dataclass
class Placement:
    """Where one task sits in the job: its rank, the world size and the rendezvous."""

    rank: int
    world_size: int
    local_rank: int
    master: str  # host:port of rank 0
    cuda: bool

    @classmethod
    def of_this_task(cls, cuda: bool) -> "Placement":
        env = submitit.helpers.TorchDistributedEnvironment()
        return cls(env.rank, env.world_size, env.local_rank, f"{env.master_addr}:{env.master_port}", cuda)

    @property
    def backend(self) -> str:
        return "nccl" if self.cuda else "gloo"

    def overrides(self) -> List[str]:
        import torch

        # a task sees either its own GPU or all of its node's
        device = self.local_rank % torch.cuda.device_count() if self.cuda else 0
        group = "distributed_training"
        placed = [
            f"{group}.distributed_world_size={self.world_size}",
            f"{group}.distributed_rank={self.rank}",
            f"{group}.device_id={device}",
        ]
        if self.world_size > 1:
            placed += [
                f"{group}.distributed_init_method={quoted('tcp://' + self.master)}",
                f"{group}.distributed_backend={self.backend}",
                f"{group}.distributed_no_spawn=true",
            ]
        return placed


def checkpoint_updates(save_dir: Path) -> int:
    """Updates of the checkpoint a run in ``save_dir`` resumes from (0 when there is none)."""
    return resume_point(save_dir).updates


class JsonLinesLog(logging.Handler):
    """Appends fairseq's json progress records to a file, one JSON object per line,
    tagged with the logger's name (``train_inner``, ``train``, ``valid``)."""

    TAGS = ("train_inner", "train", "valid")

    def __init__(self, path: Path):
        super().__init__(logging.INFO)
        self._file = open(path, "a", encoding="utf-8", buffering=1)

    def write(self, record: dict) -> None:
        self._file.write(json.dumps(record) + "\n")

    def emit(self, record: logging.LogRecord) -> None:
        if record.name in self.TAGS:
            self.write({"tag": record.name, **json.loads(record.getMessage())})

    def close(self) -> None:
        self._file.close()
        super().close()


class PretrainJob(submitit.helpers.Checkpointable):
    """``PretrainJob()(run)`` trains ``run`` with fairseq in this task; returns the task's place."""

    def __call__(self, run: PretrainRun) -> dict:
        import torch
        from fairseq_cli.hydra_train import _hydra_main
        from omegaconf import open_dict

        if run.cuda and not torch.cuda.is_available():
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            raise RuntimeError(f"{run.name} asked for GPUs, but this task sees none (CUDA_VISIBLE_DEVICES={visible})")
        if "SLURM_CPUS_PER_TASK" in os.environ:  # without task binding, torch would use every core
            torch.set_num_threads(int(os.environ["SLURM_CPUS_PER_TASK"]))
        place = Placement.of_this_task(run.cuda)
        precision_flags, mode = precision_overrides(run.precision, run.cuda)
        cfg = compose_config(run, [*precision_flags, *place.overrides()])
        if cfg.optimizer._name == "adam":
            with open_dict(cfg):
                cfg.optimizer._name = "xling_adam"  # the same Adam, on fused kernels
        run.folder.mkdir(parents=True, exist_ok=True)
        job_id = submitit.JobEnvironment().job_id
        if place.rank == 0:
            with run_lock.acquire(run.folder, job_id) as lock:
                self._train_as_rank_0(run, cfg, place, mode, lock)
        else:  # task 0 holds the lock; refuse anyone else's before waiting for task 0
            owner = run_lock.holder(run.folder)
            if owner is not None and owner.get("job_id") != job_id:
                raise run_lock.RunFolderBusy(f"{run.folder} is being written by {run_lock.describe(owner)}")
            _hydra_main(cfg)
        return {"rank": place.rank, "world_size": place.world_size, "backend": place.backend}

    @staticmethod
    def _train_as_rank_0(run: PretrainRun, cfg, place: Placement, mode: str, lock: run_lock.RunLock) -> None:
        from fairseq_cli.hydra_train import _hydra_main

        from fairseq_ext.fused_adam import kernels

        start = {
            "tag": "start",
            "job_id": lock.owner["job_id"],
            "restarts": int(os.environ.get("SLURM_RESTART_COUNT", 0)),
            "world_size": place.world_size,
            "backend": place.backend,
            "precision": mode,
            **kernels(),
            **resume_point(run.folder / CHECKPOINTS).record(),
        }
        if lock.took_over:
            start["took_over_lock"] = lock.took_over
        logger.info("xling run %s: %s", run.name, start)
        log = JsonLinesLog(run.folder / TRAIN_LOG)
        log.write(start)
        logging.getLogger().addHandler(log)
        try:
            _hydra_main(cfg)
        finally:
            logging.getLogger().removeHandler(log)
            log.close()
        updates = checkpoint_updates(run.folder / CHECKPOINTS)
        write_json(run.folder / DONE, {"name": run.name, "num_updates": updates})
