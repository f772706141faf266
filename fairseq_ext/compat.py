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


def let_pytorch_ddp_run_on_cpus() -> None:
    """``--ddp-backend pytorch_ddp`` gives torch's DistributedDataParallel
    ``device_ids=[device_id]`` for every model, which torch refuses for a model on CPUs.

    For a CPU model, drop the device ids (torch's own rule for CPU modules).
    """
    from fairseq.models import distributed_fairseq_model
    from torch.nn.parallel import DistributedDataParallel

    if getattr(distributed_fairseq_model.DistributedDataParallel, "drops_cpu_device_ids", False):
        return

    class DeviceAwareDDP(DistributedDataParallel):
        drops_cpu_device_ids = True

        def __init__(self, module, device_ids=None, output_device=None, **kwargs):
            if all(p.device.type == "cpu" for p in module.parameters()):
                device_ids = output_device = None
            super().__init__(module, device_ids=device_ids, output_device=output_device, **kwargs)

    distributed_fairseq_model.DistributedDataParallel = DeviceAwareDDP


def before_fairseq_import() -> tuple:
    """Silences fairseq's import-time advice for a task the plugin never uses (the speech
    tasks' "install tensorboardX"); returns the root logger's level and handlers, for
    :func:`undo_import_logging`."""
    logging.getLogger("fairseq.tasks.text_to_speech").setLevel(logging.WARNING)
    root = logging.getLogger()
    return root.level, list(root.handlers)


def undo_import_logging(state: tuple) -> None:
    """Importing ``fairseq.models`` runs ``logging.basicConfig(level=DEBUG)`` (in its
    wav2vec2_classification module): from then on every library's debug records reach
    stderr (matplotlib's, hydra's), and an entry point's own ``basicConfig`` is a no-op.
    Put the root logger back as it was before the plugin imported fairseq; a program that
    had imported fairseq first keeps what it had."""
    level, handlers = state
    root = logging.getLogger()
    if root.handlers[: len(handlers)] == handlers:
        for handler in root.handlers[len(handlers):]:
            root.removeHandler(handler)
    root.setLevel(level)
