"""xling: the fairseq plugin (``--user-dir fairseq_ext``) for cross-lingual MLM studies.

Importing the package registers the ``xling_mlm`` task, the ``xling_roberta`` model
(architectures ``xling_base`` and ``xling_tiny``), the ``xling_masked_lm`` criterion and
the ``xling_adam`` optimizer (see ``fused_adam``). It also lets torch >= 2.6 load fairseq
checkpoints safely (see ``checkpoint_safety``), makes fairseq's checkpoints survive a kill
at any moment and resumes past a damaged ``checkpoint_last.pt`` (see ``checkpoints``), lets
numpy 2 run fairseq's sentence-level blocks and ``fairseq-train --bf16`` run off TPUs (see
``compat``), and gives fairseq's fp16/bf16 master-weight optimizer multi-tensor kernels
(see ``mixed_precision``), lets ``pytorch_ddp`` wrap CPU models, and undoes the debug
logging that importing fairseq switches on (see ``compat``).
"""

from fairseq_ext import compat  # imports no fairseq: the logging state is taken before fairseq's import

_ROOT_LOGGING = compat.before_fairseq_import()

from fairseq_ext import checkpoint_safety, checkpoints, mixed_precision  # noqa: E402
from fairseq_ext import fused_adam  # noqa: E402,F401 (registers the xling_adam optimizer)
from fairseq_ext.criterions import xling_masked_lm  # noqa: E402,F401 (registers the criterion)
from fairseq_ext.models import xling_roberta  # noqa: E402,F401
from fairseq_ext.tasks import xling_mlm  # noqa: E402,F401

checkpoint_safety.allow_fairseq_checkpoints()
checkpoints.install()
compat.restore_numpy_compat_long()
compat.untie_bf16_from_tpu()
mixed_precision.install()
compat.let_pytorch_ddp_run_on_cpus()
compat.undo_import_logging(_ROOT_LOGGING)
