"""xling: the fairseq plugin (``--user-dir fairseq_ext``) for cross-lingual MLM studies.

Importing the package registers the ``xling_mlm`` task, the ``xling_roberta`` model
(architectures ``xling_base`` and ``xling_tiny``), the ``xling_masked_lm`` criterion and
the ``xling_adam`` optimizer (see ``fused_adam``). It also lets torch >= 2.6 load fairseq
checkpoints safely (see ``checkpoint_safety``), makes fairseq's checkpoints survive a kill
at any moment and resumes past a damaged ``checkpoint_last.pt`` (see ``checkpoints``), lets
numpy 2 run fairseq's sentence-level blocks and ``fairseq-train --bf16`` run off TPUs (see
``compat``), and gives fairseq's fp16/bf16 master-weight optimizer multi-tensor kernels
(see ``mixed_precision``).
"""

from fairseq_ext import checkpoint_safety, checkpoints, compat, mixed_precision
from fairseq_ext import fused_adam  # noqa: F401 (registers the xling_adam optimizer)
from fairseq_ext.criterions import xling_masked_lm  # noqa: F401 (registers the criterion)
from fairseq_ext.models import xling_roberta  # noqa: F401
from fairseq_ext.tasks import xling_mlm  # noqa: F401

checkpoint_safety.allow_fairseq_checkpoints()
checkpoints.install()
compat.restore_numpy_compat_long()
compat.untie_bf16_from_tpu()
mixed_precision.install()
