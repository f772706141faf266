"""fairseq_ext.mixed_precision: foreach kernels give the same training as fairseq's loops."""

import torch
from fairseq import utils
from fairseq.optim.fp16_optimizer import _FP16OptimizerMixin
from helpers import capture_trainers, tiny_train_args, train

from fairseq_ext import mixed_precision


def test_total_norm_matches_per_tensor_norms():
    torch.manual_seed(0)
    grads = [torch.randn(7, 5), torch.randn(3), torch.randn(4, 4, dtype=torch.bfloat16), torch.randn(1)]
    expected = torch.norm(torch.stack([torch.norm(g, p=2, dtype=torch.float32) for g in grads]))
    got = mixed_precision.total_norm(grads)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=0)


def bf16_run(data, save_dir):
    # a small clip norm so the clipping path (norm, then scaled gradients) is taken
    argv = tiny_train_args(data, save_dir, "en,fr", 6, [
        "--bf16", "--on-cpu-convert-precision", "--clip-norm", "0.05", "--optimizer", "xling_adam",
        "--lang-specific-embeddings", "--lang-specific-layers", "3", "--log-interval", "1",
    ])
    with capture_trainers() as trainers:
        logs = train(argv)
    gnorms = [float(stats["gnorm"]) for name, stats in logs if name == "train_inner"]
    model = trainers[0].model
    assert next(model.parameters()).dtype == torch.bfloat16
    fp32_master = [p.detach().clone() for p in trainers[0].optimizer.fp32_params]
    return gnorms, fp32_master


def test_bf16_training_is_unchanged_by_foreach_kernels(bilingual_data, tmp_path):
    assert _FP16OptimizerMixin._sync_fp16_grads_to_fp32 is mixed_precision._grads_to_fp32
    assert utils.multi_tensor_total_norm is mixed_precision.total_norm
    fast = bf16_run(bilingual_data, tmp_path / "fast")
    mixed_precision.uninstall()
    try:
        assert _FP16OptimizerMixin._sync_fp16_grads_to_fp32 is not mixed_precision._grads_to_fp32
        loops = bf16_run(bilingual_data, tmp_path / "loops")
    finally:
        mixed_precision.install()
    assert len(fast[0]) == 6 and fast[0] == loops[0], "the same gradient norm at every update"
    assert min(fast[0]) > 0.05, "clipping was active"
    assert len(fast[1]) == len(loops[1]) > 20, "one fp32 master tensor per parameter (bf16 is not flattened)"
    for a, b in zip(fast[1], loops[1]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)
