"""Multi-tensor (foreach) kernels for fairseq's fp16/bf16 master-weight optimizer.

fairseq trains ``--bf16``/``--fp16`` with fp32 master weights (``FP16Optimizer``). It never
flattens them for bf16, and without apex it has no multi-tensor norm, so every update
runs one small kernel per parameter tensor in three passes: gradients to fp32, the
gradient norm, weights back to bf16. On a GPU those launches are host time the device
waits on (measured in bench/README.md). torch's foreach kernels do each pass in a few
launches with the same arithmetic. apex's norm kernel, when importable, is left in place.

``install()`` is one of ``fairseq_ext.patches.apply()``'s fixes; ``uninstall()`` restores fairseq's loops
(the bench's "before"). ``fastest_precision()`` picks the training precision for the
hardware a job runs on.
"""

from collections import defaultdict
from typing import List, Tuple

import torch
from fairseq import utils
from fairseq.optim.fp16_optimizer import _FP16OptimizerMixin

_originals = {}


def _grads_to_fp32(self) -> None:
    if not self._needs_sync or self.has_flat_params:
        return _originals["grads"](self)
    sources, targets = [], []
    for p, p32 in zip(self.fp16_params, self.fp32_params):
        if not p.requires_grad:
            continue
        if p.grad is None:  # unused this step: a zero gradient, as fairseq gives it
            p32.grad = torch.zeros_like(p.data, dtype=torch.float)
            continue
        if p32.grad is None:
            p32.grad = torch.empty_like(p32.data)
        sources.append(p.grad.data)
        targets.append(p32.grad.data)
    if targets:
        torch._foreach_copy_(targets, sources)
    self._needs_sync = False


def _params_from_fp32(self) -> None:
    if self.has_flat_params:
        return _originals["params"](self)
    pairs = [(p.data, p32.data) for p, p32 in zip(self.fp16_params, self.fp32_params) if p.requires_grad]
    if pairs:
        torch._foreach_copy_([p for p, _ in pairs], [p32 for _, p32 in pairs])


def total_norm(grads: List[torch.Tensor], chunk_size: int = 0) -> torch.Tensor:
    """The l2 norm of all gradients together, in fp32, one foreach kernel per device."""
    by_device = defaultdict(list)
    for grad in grads:
        by_device[grad.device].append(grad)
    device = grads[0].device
    norms = [
        torch.stack(torch._foreach_norm(group, 2, dtype=torch.float32)).to(device) for group in by_device.values()
    ]
    return torch.linalg.vector_norm(torch.cat(norms))


def fastest_precision(cuda: bool) -> Tuple[str, str]:
    """The fastest correct precision here, and why: ``("bf16" | "fp32", reason)``.

    bf16 (with fp32 master weights) where the device computes it natively: GPUs that
    support it, CPUs with AMX-BF16 or AVX512-BF16 (there, bf16 GEMMs run several times
    faster than fp32; elsewhere torch emulates bf16 and it is slower than fp32).
    """
    if cuda:
        if not torch.cuda.is_available():
            return "fp32", "no GPU is visible here"
        if torch.cuda.is_bf16_supported():
            return "bf16", f"{torch.cuda.get_device_name()} supports bf16"
        return "fp32", f"{torch.cuda.get_device_name()} has no bf16"
    if torch.cpu._is_amx_tile_supported():
        return "bf16", "this CPU has AMX-BF16"
    if torch.cpu._is_avx512_bf16_supported():
        return "bf16", "this CPU has AVX512-BF16"
    return "fp32", "this CPU has no bf16 instructions (AMX-BF16, AVX512-BF16)"


def installed() -> bool:
    return bool(_originals)


def install() -> None:
    if _originals:
        return
    _originals.update(
        grads=_FP16OptimizerMixin._sync_fp16_grads_to_fp32,
        params=_FP16OptimizerMixin._sync_fp32_params_to_fp16,
        norm=(utils.multi_tensor_l2norm_available, utils.multi_tensor_total_norm),
    )
    _FP16OptimizerMixin._sync_fp16_grads_to_fp32 = _grads_to_fp32
    _FP16OptimizerMixin._sync_fp32_params_to_fp16 = _params_from_fp32
    if not utils.multi_tensor_l2norm_available:  # apex's amp_C is absent
        utils.multi_tensor_l2norm_available, utils.multi_tensor_total_norm = True, total_norm


def uninstall() -> None:
    if not _originals:
        return
    _FP16OptimizerMixin._sync_fp16_grads_to_fp32 = _originals["grads"]
    _FP16OptimizerMixin._sync_fp32_params_to_fp16 = _originals["params"]
    utils.multi_tensor_l2norm_available, utils.multi_tensor_total_norm = _originals["norm"]
    _originals.clear()
