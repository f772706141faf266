"""A run's folder: what the launcher and the job write there, and how to read its state.

::

    RUN/submission.json   the latest submission: job id, cluster, the run's spec
    RUN/submitit/         submitit's logs and pickles (a grid's array task: a link <job id>/
                          to OUT_DIR/.submitit/<job id>/)
    RUN/train_log.jsonl   fairseq's json log records, one per line, and one "start" record per attempt
    RUN/tensorboard/      fairseq's tensorboard logs
    RUN/checkpoints/      fairseq's save_dir (checkpoint_last.pt is what a rerun resumes)
    RUN/done.json         written when fairseq finished the run
"""

import dataclasses
import json
from pathlib import Path
from typing import Dict, List, Optional

from xling.files import write_json  # noqa: F401 (run records are written atomically)
from slurm.cluster import ACTIVE_STATES

SUBMISSION = "submission.json"
SUBMITIT = "submitit"
TRAIN_LOG = "train_log.jsonl"
TENSORBOARD = "tensorboard"
CHECKPOINTS = "checkpoints"
DONE = "done.json"


@dataclasses.dataclass
class PretrainRun:
    """One pretraining run, as the job receives it (paths absolute)."""

    name: str  # <setting>/<pair>/seed<seed>
    config_dir: str
    config: str  # a hydra config of config_dir: the setting's model
    data: str
    langs: List[str]
    seed: int
    run_dir: str
    precision: Optional[str]  # fp32, fp16 or bf16; None: the config's (decided by prepare_run)
    cuda: bool = False
    overrides: List[str] = dataclasses.field(default_factory=list)  # the user's fairseq hydra overrides

    @property
    def folder(self) -> Path:
        return Path(self.run_dir)




def read_json(path: Path) -> Optional[dict]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def read_log(run_dir: Path) -> List[dict]:
    """The run's log records; a line cut short by a killed job is skipped."""
    path = Path(run_dir) / TRAIN_LOG
    records = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def read_submission(run_dir: Path) -> Optional[dict]:
    """RUN/submission.json as ``slurm.submit.record_submission`` wrote it (None: never
    submitted); its ``run`` is a :class:`PretrainRun`."""
    record = read_json(Path(run_dir) / SUBMISSION)
    if record is not None:
        record = {**record, "run": PretrainRun(**record["run"])}
    return record


@dataclasses.dataclass
class RunSummary:
    """What a finished or running run's files say, for reports."""

    run: Optional[PretrainRun]  # the spec it was submitted with (None: started by hand)
    updates: int  # at the last validation
    valid_losses: Dict[str, float]  # language -> loss of the last validation ("all": no per-language loss)
    start: dict  # the first attempt's "start" record: precision, Adam kernel, ...


def read_run(run_dir: Path) -> Optional[RunSummary]:
    """The run's spec and last validation; None until it has validated once."""
    records = read_log(run_dir)
    valid = [r for r in records if r.get("tag") == "valid"]
    if not valid:
        return None
    last = valid[-1]
    losses = {k[len("valid_loss_"):]: float(v) for k, v in last.items() if k.startswith("valid_loss_")}
    if not losses and "valid_loss" in last:
        losses = {"all": float(last["valid_loss"])}
    submission = read_submission(run_dir)
    return RunSummary(
        run=submission["run"] if submission else None,
        updates=int(last.get("valid_num_updates", 0)),
        valid_losses=losses,
        start=next((r for r in records if r.get("tag") == "start"), {}),
    )


def run_state(run_dir: Path, queue: Dict[str, str]) -> tuple:
    """(state, job id): DONE, NEW (never submitted), SLURM's state of the latest job, or
    ENDED when SLURM no longer knows that job (it stopped before finishing)."""
    run_dir = Path(run_dir)
    submission = read_json(run_dir / SUBMISSION) or {}  # the raw record: any spec reads as submitted
    job_id = submission.get("job_id", "")
    if (run_dir / DONE).exists():
        return "DONE", job_id
    if not submission:
        return "NEW", ""
    return queue.get(job_id, "ENDED"), job_id


def needs_submission(state: str) -> bool:
    return state != "DONE" and state not in ACTIVE_STATES


def progress(run_dir: Path, langs: List[str]) -> dict:
    """Updates, attempts and the latest training loss of each language, from the log.

    The latest of fairseq's interval records (``train_inner``) and end-of-epoch records
    (``train``, keys prefixed ``train_``): a run shorter than its log interval writes only
    the latter."""
    records = read_log(run_dir)
    updates, losses = 0, {}
    for record in records:
        prefix = {"train_inner": "", "train": "train_"}.get(record.get("tag"))
        if prefix is not None and f"{prefix}num_updates" in record:
            updates = int(record[f"{prefix}num_updates"])
            losses = {lang: float(record[f"{prefix}loss_{lang}"]) for lang in langs if f"{prefix}loss_{lang}" in record}
    return {
        "updates": updates,
        "attempts": sum(r.get("tag") == "start" for r in records),
        "losses": losses,
    }