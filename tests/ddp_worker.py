"""One rank of a CPU data-parallel run (gloo, legacy_ddp, explicit tcp init).

fairseq saves checkpoints on rank 0 only; to compare the ranks, this worker keeps a
handle on its Trainer and writes that rank's final parameters to OUT/rank<R>.pt.
Usage: python ddp_worker.py RANK WORLD_SIZE PORT OUT -- <fairseq-train arguments>
"""

import sys

import torch

from helpers import capture_trainers, train

rank, world_size, port, out = sys.argv[1:5]
argv = sys.argv[sys.argv.index("--") + 1 :]
with capture_trainers() as trainers:
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
