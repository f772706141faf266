"""Shared test helpers: small corpora binarized by fairseq-preprocess, in-process training."""

import contextlib
import json
import logging
import socket
from pathlib import Path
from typing import Dict, List, Tuple

from xling.settings import model_settings
from fairseq_ext.synthetic import language_words, make_data, write_text  # noqa: F401 (re-exported)

REPO = Path(__file__).resolve().parents[1]
USER_DIR = str(REPO / "fairseq_ext")

# The paper's parameter-sharing rows, as model flags (K=3 and K=6 fit xling_tiny's 8 layers),
# e.g. sep_emb_l1_3: ["--lang-specific-embeddings", "--lang-specific-layers", "3"]
SHARING_SETTINGS: Dict[str, List[str]] = {s.name: s.model_flags() for s in model_settings()}


def tiny_train_args(data: Path, save_dir: Path, langs: str, max_update: int, extra=()) -> List[str]:
    return [
        str(data),
        "--user-dir", USER_DIR,
        "--task", "xling_mlm",
        "--langs", langs,
        "--criterion", "xling_masked_lm",
        "--arch", "xling_tiny",
        "--tokens-per-sample", "32",
        "--batch-size", "8",
        "--optimizer", "adam",
        "--lr", "0.002",
        "--lr-scheduler", "inverse_sqrt",
        "--warmup-updates", "5",
        "--max-update", str(max_update),
        "--save-dir", str(save_dir),
        "--num-workers", "0",
        "--log-format", "json",
        "--log-interval", "5",
        "--ddp-backend", "legacy_ddp",
        "--cpu",
        "--seed", "1",
        "--no-epoch-checkpoints",
        *extra,
    ]


class _JsonLogCollector(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.INFO)
        self.records: List[Tuple[str, dict]] = []

    def emit(self, record):
        # fairseq's json progress bar logs under the names train_inner, train and valid
        if record.name in ("train_inner", "train", "valid"):
            self.records.append((record.name, json.loads(record.getMessage())))


def train(argv: List[str]) -> List[Tuple[str, dict]]:
    """Run fairseq-train in this process; return its json log lines as (logger, stats)."""
    from fairseq import options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.distributed import utils as distributed_utils
    from fairseq_cli import train as train_cli

    args = options.parse_args_and_arch(options.get_training_parser(), argv)
    cfg = convert_namespace_to_omegaconf(args)
    collector = _JsonLogCollector()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(collector)
    root.setLevel(logging.INFO)
    try:
        distributed_utils.call_main(cfg, train_cli.main)
    finally:
        root.removeHandler(collector)
        root.setLevel(old_level)
    return collector.records


@contextlib.contextmanager
def capture_trainers():
    """Collects every fairseq Trainer built inside the block (fairseq keeps them local)."""
    from fairseq import trainer as fairseq_trainer

    trainers = []
    original_init = fairseq_trainer.Trainer.__init__

    def remember(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        trainers.append(self)

    fairseq_trainer.Trainer.__init__ = remember
    try:
        yield trainers
    finally:
        fairseq_trainer.Trainer.__init__ = original_init


def build_task_and_model(argv: List[str]):
    """Parse fairseq-train arguments and build the task and model without training."""
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    args = options.parse_args_and_arch(options.get_training_parser(), argv)
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    return task, task.build_model(cfg.model)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
