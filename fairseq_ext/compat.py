"""Small fixes that let fairseq 0.12 run on the pinned stack (numpy 2, torch >= 2.6) and GPUs."""

import contextlib
import functools
import logging
import types

import numpy as np
from omegaconf import DictConfig, open_dict

logger = logging.getLogger(__name__)


def restore_numpy_compat_long() -> None:
    """fairseq's TokenBlockDataset (--sample-break-mode eos) uses ``np.compat.long``.

    numpy 2 removed ``np.compat``; give back exactly the one name fairseq reads.
    """
    if not hasattr(np, "compat"):
        np.compat = types.SimpleNamespace(long=np.int64)


def untie_bf16_from_tpu() -> None:
    """``fairseq-train --bf16`` also sets ``--tpu`` (fairseq/options.py), so the Trainer asks
    torch_xla for a device and crashes on every GPU and CPU.

    Where torch_xla is absent that can only be the implied flag: clear it before the
    Trainer reads it, so ``--bf16`` trains in bf16 on the device at hand (as it already
    does through ``fairseq-hydra-train``, which does not tie the two).
    """
    from fairseq import trainer, utils

    if utils.xm is not None or getattr(trainer.Trainer.__init__, "untied_bf16", False):
        return
    original_init = trainer.Trainer.__init__

    @functools.wraps(original_init)
    def init(self, cfg, *args, **kwargs):
        common = cfg.common if hasattr(cfg, "common") else cfg  # DictConfig or a legacy Namespace
        if getattr(common, "tpu", False) and getattr(common, "bf16", False):
            with open_dict(cfg) if isinstance(cfg, DictConfig) else contextlib.nullcontext():
                common.tpu = False
            logger.info("--bf16 without torch_xla: training in bf16 on this device, not on a TPU")
        original_init(self, cfg, *args, **kwargs)

    init.untied_bf16 = True
    trainer.Trainer.__init__ = init
