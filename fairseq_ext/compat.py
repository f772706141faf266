"""Small fixes that let fairseq 0.12 run on the pinned stack (numpy 2, torch >= 2.6)."""

import types

import numpy as np


def restore_numpy_compat_long() -> None:
    """fairseq's TokenBlockDataset (--sample-break-mode eos) uses ``np.compat.long``.

    numpy 2 removed ``np.compat``; give back exactly the one name fairseq reads.
    """
    if not hasattr(np, "compat"):
        np.compat = types.SimpleNamespace(long=np.int64)
