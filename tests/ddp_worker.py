"""One rank of a CPU data-parallel run (gloo, legacy_ddp, explicit tcp init).

fairseq saves checkpoints on rank 0 only; to compare the ranks, this worker keeps a
handle on its Trainer and writes that rank's final parameters to OUT/rank<R>.pt.
Usage: python ddp_worker.py RANK WORLD_SIZE PORT OUT -- <fairseq-train arguments>
"""

import sys

import torch
from fairseq import trainer as fairseq_trainer

from helpers import train

rank, world_size, port, out = sys.argv[1:5]
argv = sys.argv[sys.argv.index("--") + 1 :]
trainers = []
original_init = fairseq_trainer.Trainer.__init__


def remember(self, *args, **kwargs):
    original_init(self, *args, **kwargs)
    trainers.append(self)


fairseq_trainer.Trainer.__init__ = remember
records = train(
    argv
    + [
        "--distributed-world-size", world_size,
        "--distributed-rank", rank,
        "--distributed-init-method", f"tcp://127.0.0.1:{port}",
        "--distributed-backend", "gloo",
        "--distributed-no-spawn",
        "--device-id", "0",
    ]
)
(trainer,) = trainers
torch.save(
    {
        "params": {k: v.detach().clone() for k, v in trainer.model.state_dict().items()},
        "num_updates": trainer.get_num_updates(),
        "records": records,
    },
    f"{out}/rank{rank}.pt",
)
