"""xling: the fairseq plugin (``--user-dir fairseq_ext``) for cross-lingual MLM studies.

Importing the package registers the ``xling_mlm`` task, the ``xling_roberta`` model
(architectures ``xling_base`` and ``xling_tiny``), the ``xling_masked_lm`` criterion and
the ``xling_adam`` optimizer (see ``fused_adam``), and allowlists the one class of fairseq
checkpoints that torch >= 2.6 refuses to load (see ``checkpoint_safety``: a registration
with torch, needed before fairseq reads a checkpoint, which happens before it builds the
task). It changes no fairseq code, except that it puts the root logger back as it was
before it imported fairseq (whose import switches DEBUG logging on, see
``compat.undo_import_logging``).

The fixes to fairseq's code are applied by ``fairseq_ext.patches.apply()`` (the list and
the reasons are there): crash-safe checkpoints and resume, numpy 2's ``np.compat``,
``--bf16`` off TPUs, foreach kernels for the fp16/bf16 optimizer, ``pytorch_ddp`` on CPUs.
``fairseq-train --user-dir fairseq_ext`` and ``fairseq-hydra-train`` get them from the
``xling_mlm`` task's ``setup_task``, before fairseq builds the model and the Trainer; the
plugin's entry points call ``patches.apply()`` at start.
"""

from fairseq_ext import compat  # imports no fairseq: the logging state is taken before fairseq's import

_ROOT_LOGGING = compat.before_fairseq_import()

from fairseq_ext import checkpoint_safety  # noqa: E402
from fairseq_ext import fused_adam  # noqa: E402,F401 (registers the xling_adam optimizer)
from fairseq_ext.criterions import xling_masked_lm  # noqa: E402,F401 (registers the criterion)
from fairseq_ext.models import xling_roberta  # noqa: E402,F401
from fairseq_ext.tasks import xling_mlm  # noqa: E402,F401

checkpoint_safety.allow_fairseq_checkpoints()
compat.undo_import_logging(_ROOT_LOGGING)
