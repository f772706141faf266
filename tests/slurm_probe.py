"""A PretrainJob that also reports a digest of its own rank's final parameters.

fairseq saves on rank 0 only; to compare the ranks of a SLURM job, each task keeps a
handle on its Trainer and returns a digest of the model it ends with. The job imports
this module through PYTHONPATH, which sbatch passes on.
"""

import hashlib

from helpers import capture_trainers
from slurm.pretrain import PretrainJob


def digest(state_dict) -> str:
    sha = hashlib.sha256()
    for key in sorted(state_dict):
        sha.update(key.encode())
        sha.update(state_dict[key].detach().float().cpu().contiguous().numpy().tobytes())
    return sha.hexdigest()


class ReplicaProbe(PretrainJob):
    def __call__(self, run):
        with capture_trainers() as trainers:
            place = super().__call__(run)
        (trainer,) = trainers
        return {**place, "num_updates": trainer.get_num_updates(), "params": digest(trainer.model.state_dict())}
