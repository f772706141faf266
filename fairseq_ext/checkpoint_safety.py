"""Safe loading of fairseq checkpoints under torch >= 2.6.

torch >= 2.6 unpickles ``torch.load`` files with ``weights_only=True``: only tensors,
containers and allowlisted classes may be rebuilt, so a checkpoint from a stranger
cannot run code. fairseq 0.12 calls ``torch.load`` without arguments and its
checkpoints hold one class outside torch's default allowlist, ``argparse.Namespace``
(the config of legacy models such as RoBERTa). We allowlist exactly that class rather
than turning ``weights_only`` off: a pickle that calls anything else, such as
``os.system``, is still refused.
"""

import argparse

import torch

# argparse.Namespace only sets attributes from a dict when rebuilt: it runs no code.
FAIRSEQ_CHECKPOINT_CLASSES = [argparse.Namespace]


def allow_fairseq_checkpoints() -> None:
    """Allow torch.load (weights_only) to rebuild the classes fairseq checkpoints contain."""
    torch.serialization.add_safe_globals(FAIRSEQ_CHECKPOINT_CLASSES)
