"""Two CPU processes train one model with language-specific layers."""

import os
import subprocess
import sys
from pathlib import Path

import torch

from helpers import SHARING_SETTINGS, build_task_and_model, free_port, tiny_train_args

WORKER = Path(__file__).with_name("ddp_worker.py")


def build_start(argv):
    """The parameters both ranks started from (fairseq seeds the model with --seed)."""
    from fairseq import utils

    utils.set_torch_seed(1)
    _, model = build_task_and_model(argv)
    return model.state_dict()


def test_two_ranks_train_and_end_identical(bilingual_data, tmp_path):
    port = free_port()
    argv = tiny_train_args(
        bilingual_data, tmp_path / "ckpt", "en,fr", 12, SHARING_SETTINGS["sep_emb_l1_3"]
    )
    env = {**os.environ, "PYTHONPATH": str(WORKER.parent)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(rank), "2", str(port), str(tmp_path), "--", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for rank in range(2)
    ]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    for rank, (proc, log) in enumerate(zip(procs, logs)):
        assert proc.returncode == 0, f"rank {rank} failed:\n{log[-4000:]}"

    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    start = build_start(argv)
    assert ranks[0]["num_updates"] == ranks[1]["num_updates"] == 12
    # one rank's batch holds at most 8 streams; the logged batch is the sum over ranks
    inner = [s for n, s in ranks[0]["records"] if n == "train_inner"]
    assert inner and all(float(s["bsz"]) > 8 for s in inner), [s["bsz"] for s in inner]
    initial = torch.load(tmp_path / "ckpt" / "checkpoint_last.pt", weights_only=False)["model"]
    for key, value in ranks[0]["params"].items():
        assert torch.equal(value, ranks[1]["params"][key]), f"ranks differ at {key}"
        assert torch.equal(value, initial[key]), f"rank 0's checkpoint differs at {key}"
    # the language-specific lower layers of the second language did train
    # the second language's own lower layers trained: they moved from their start, by
    # no more than 12 Adam steps of lr <= 0.002 can (a different start would be ~0.1 off)
    extra = "encoder.sentence_encoder.extra_lower_layers.0.0.fc1.weight"
    moved = (ranks[0]["params"][extra] - start[extra]).abs().max().item()
    assert 0 < moved <= 12 * 0.002 * 1.05
