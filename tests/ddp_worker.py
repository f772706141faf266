"""One rank of a CPU data-parallel run (gloo, explicit tcp init; the DDP backend from argv).

fairseq saves checkpoints on rank 0 only; to compare the ranks, this worker keeps a
handle on its Trainer and writes that rank's final parameters, and which wrapper trained
them, to OUT/rank<R>.pt.
Usage: python ddp_worker.py RANK WORLD_SIZE PORT OUT -- <fairseq-train arguments>
XLING_NO_ZERO_GRADIENTS=1 leaves other languages' parameters out of the graph (the control).
"""

import os
import sys

import torch

from helpers import capture_trainers, train

rank, world_size, port, out = sys.argv[1:5]
argv = sys.argv[sys.argv.index("--") + 1 :]
if os.environ.get("XLING_NO_ZERO_GRADIENTS") == "1":
    from fairseq_ext.models.xling_roberta import LanguageAwareTransformerEncoder

    LanguageAwareTransformerEncoder.parameters_unused_by = lambda self, lang: []
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
wrapper = trainer.model.module  # inside fairseq's ModuleProxyWrapper
torch.save(
    {
        "params": {k: v.detach().clone() for k, v in trainer.model.state_dict().items()},
        "num_updates": trainer.get_num_updates(),
        "records": records,
        "torch_ddp": isinstance(wrapper, torch.nn.parallel.DistributedDataParallel),
        "find_unused_parameters": getattr(wrapper, "find_unused_parameters", None),
    },
    f"{out}/rank{rank}.pt",
)
