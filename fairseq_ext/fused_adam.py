"""``--optimizer xling_adam``: fairseq's Adam (decoupled weight decay, like AdamW) with the
fastest kernel at hand, so apex stays optional.

- apex importable and CUDA: apex's FusedAdam, chosen by fairseq's own ``adam``.
- otherwise: ``torch.optim.AdamW(fused=True)``, one kernel for all parameters (CUDA or
  CPU), instead of fairseq's Python loop over parameters.

Same options as ``adam``. The two kernels differ only in where eps enters:
torch adds eps to sqrt(v_hat), fairseq and apex to sqrt(v). With eps = 1e-6 the
difference is negligible.
"""

import logging

import torch
from fairseq.modules import layer_norm
from fairseq.optim import register_optimizer
from fairseq.optim.adam import FairseqAdam, FairseqAdamConfig
from fairseq.optim.fairseq_optimizer import FairseqOptimizer
from fairseq.optim.fused_adam import get_fused_adam_class

logger = logging.getLogger(__name__)


def apex_available() -> bool:
    """Whether apex's fused Adam kernels import here."""
    return get_fused_adam_class() is not None


def kernels() -> dict:
    """The Adam and LayerNorm kernels this process uses, for the run log."""
    cuda = torch.cuda.is_available()
    return {
        "apex": apex_available(),
        "adam": "apex FusedAdam" if cuda and apex_available() else "torch AdamW(fused=True)",
        "layer_norm": "apex FusedLayerNorm" if cuda and layer_norm.has_fused_layernorm else "torch LayerNorm",
    }


@register_optimizer("xling_adam", dataclass=FairseqAdamConfig)
class XlingAdam(FairseqAdam):
    def __init__(self, cfg: FairseqAdamConfig, params):
        if torch.cuda.is_available() and apex_available():
            super().__init__(cfg, params)
            return
        FairseqOptimizer.__init__(self, cfg)
        if cfg.fp16_adam_stats:
            raise ValueError("--fp16-adam-stats needs apex's FusedAdam, which is not importable")
        self._optimizer = torch.optim.AdamW(params, fused=True, **self.optimizer_config)
        logger.info("xling_adam: torch.optim.AdamW(fused=True) (apex is not importable)")

    @property
    def supports_flat_params(self) -> bool:
        # fp16/bf16 training hands the optimizer one flat fp32 copy of all parameters
        return True
