"""The plugin's fixes to fairseq 0.12, applied on purpose: :func:`apply`.

Importing ``fairseq_ext`` only registers the task, model, criterion and optimizer (and
allowlists fairseq's checkpoint classes for torch.load, see below); it changes no fairseq
object. The fixes below change fairseq's code, so they are applied by one call::

    from fairseq_ext import patches
    patches.apply()      # idempotent: a second call changes nothing
    patches.applied()    # the names of the fixes in place, e.g. ["safe_checkpoint_loading", ...]

Who calls it:

- ``fairseq-train --user-dir fairseq_ext`` and ``fairseq-hydra-train`` import the user dir
  only: the ``xling_mlm`` task's ``setup_task`` calls :func:`apply`. fairseq_cli/train.py
  builds the task before the model, the criterion, the Trainer and the checkpoint load, so
  every fix is in place before fairseq uses the patched code. fairseq's
  ``checkpoint_utils.load_model_ensemble_and_task`` also builds the task (after reading
  the checkpoint, which the import-time allowlist already lets torch load).
- the plugin's own entry points (``python -m fairseq_ext.transfer``, ``.analysis``,
  ``.export_hf``, ``.demo`` and their console scripts) call it at start.

The logging fix (undoing the DEBUG root logger that importing fairseq switches on) is not
here: it is about the import itself, so ``fairseq_ext/__init__.py`` takes the root
logger's state before it imports fairseq and restores it right after, and changes no
fairseq code (see ``compat.undo_import_logging``).
"""

import logging
from typing import Dict, List

logger = logging.getLogger(__name__)


def _safe_checkpoint_loading() -> None:
    from fairseq_ext import checkpoint_safety

    checkpoint_safety.allow_fairseq_checkpoints()


def _safe_checkpoint_loading_applied() -> bool:
    import torch

    from fairseq_ext import checkpoint_safety

    allowed = torch.serialization.get_safe_globals()
    return all(cls in allowed for cls in checkpoint_safety.FAIRSEQ_CHECKPOINT_CLASSES)


def _crash_safe_checkpoints() -> None:
    from fairseq_ext import checkpoints

    checkpoints.install()


def _crash_safe_checkpoints_applied() -> bool:
    from fairseq import checkpoint_utils

    return getattr(checkpoint_utils.load_checkpoint, "falls_back", False)


def _numpy_compat_long() -> None:
    from fairseq_ext import compat

    compat.restore_numpy_compat_long()


def _numpy_compat_long_applied() -> bool:
    import numpy as np

    return hasattr(getattr(np, "compat", None), "long")


def _bf16_without_tpu() -> None:
    from fairseq_ext import compat

    compat.untie_bf16_from_tpu()


def _bf16_without_tpu_applied() -> bool:
    from fairseq import trainer, utils

    # with torch_xla installed, --bf16 --tpu may be meant: nothing to fix, counted as applied
    return utils.xm is not None or getattr(trainer.Trainer.__init__, "untied_bf16", False)


def _foreach_mixed_precision() -> None:
    from fairseq_ext import mixed_precision

    mixed_precision.install()


def _foreach_mixed_precision_applied() -> bool:
    from fairseq_ext import mixed_precision

    return mixed_precision.installed()


def _pytorch_ddp_on_cpus() -> None:
    from fairseq_ext import compat

    compat.let_pytorch_ddp_run_on_cpus()


def _pytorch_ddp_on_cpus_applied() -> bool:
    from fairseq.models import distributed_fairseq_model

    return getattr(distributed_fairseq_model.DistributedDataParallel, "drops_cpu_device_ids", False)


# name -> (apply it, is it in place?), in the order apply() runs them
FIXES: Dict[str, tuple] = {
    "safe_checkpoint_loading": (_safe_checkpoint_loading, _safe_checkpoint_loading_applied),
    "crash_safe_checkpoints": (_crash_safe_checkpoints, _crash_safe_checkpoints_applied),
    "numpy_compat_long": (_numpy_compat_long, _numpy_compat_long_applied),
    "bf16_without_tpu": (_bf16_without_tpu, _bf16_without_tpu_applied),
    "foreach_mixed_precision": (_foreach_mixed_precision, _foreach_mixed_precision_applied),
    "pytorch_ddp_on_cpus": (_pytorch_ddp_on_cpus, _pytorch_ddp_on_cpus_applied),
}


def apply() -> List[str]:
    """Apply every fix to fairseq 0.12 that the plugin needs; idempotent. Returns :func:`applied`.

    - ``safe_checkpoint_loading``: torch >= 2.6 loads with ``weights_only=True``; allowlist
      ``argparse.Namespace``, the one non-tensor class in fairseq checkpoints (``checkpoint_safety``).
    - ``crash_safe_checkpoints``: fairseq copies a save to ``checkpoint_last.pt`` in place, so a
      kill leaves it truncated; write and copy by rename, resume past a damaged last (``checkpoints``).
    - ``numpy_compat_long``: numpy 2 removed ``np.compat``, which fairseq's TokenBlockDataset
      reads (``--sample-break-mode eos``) (``compat.restore_numpy_compat_long``).
    - ``bf16_without_tpu``: ``fairseq-train --bf16`` also sets ``--tpu`` and the Trainer then
      crashes without torch_xla; clear the implied flag (``compat.untie_bf16_from_tpu``).
    - ``foreach_mixed_precision``: fairseq's fp16/bf16 master-weight optimizer runs one kernel per
      tensor in three passes; use torch's foreach kernels (``mixed_precision``).
    - ``pytorch_ddp_on_cpus``: ``--ddp-backend pytorch_ddp`` passes ``device_ids`` that torch
      refuses for a CPU model; drop them there (``compat.let_pytorch_ddp_run_on_cpus``).
    """
    for name, (fix, in_place) in FIXES.items():
        if not in_place():
            fix()
            logger.debug("fairseq fix applied: %s", name)
    return applied()


def applied() -> List[str]:
    """The names of the fixes (keys of :data:`FIXES`) that are in place now."""
    return [name for name, (_, in_place) in FIXES.items() if in_place()]

