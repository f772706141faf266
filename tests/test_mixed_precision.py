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


def loss_curve(data, save_dir, precision_flags):
    argv = tiny_train_args(data, save_dir, "en,fr", 160, [
        *precision_flags, "--optimizer", "xling_adam", "--log-interval", "20", "--lr-scheduler", "polynomial_decay",
        "--total-num-update", "160", "--warmup-updates", "16", "--clip-norm", "1.0",
    ])
    with capture_trainers() as trainers:
        losses = [float(stats["loss"]) for name, stats in train(argv) if name == "train_inner"]
    return losses, next(trainers[0].model.parameters()).dtype


def test_bf16_and_fp32_training_agree(bilingual_data, tmp_path):
    """160 updates of the tiny model in bf16 (fp32 master weights) and in fp32, same seed
    and batches: the loss curves stay within 0.1 bits of each other at every logged
    interval, while the loss itself falls by more than 1.5 bits. (Seen: within 0.005.)"""
    fp32, fp32_dtype = loss_curve(bilingual_data, tmp_path / "fp32", [])
    bf16, bf16_dtype = loss_curve(bilingual_data, tmp_path / "bf16", ["--bf16"])
    assert (fp32_dtype, bf16_dtype) == (torch.float32, torch.bfloat16)
    assert len(fp32) == len(bf16) == 8
    assert fp32[0] - fp32[-1] > 1.5, "the run learns"
    assert max(abs(a - b) for a, b in zip(fp32, bf16)) < 0.1
