"""The CPU benchmark's GEMM-only ceiling (``bench/cpu_train.py``) counts the same FLOPs as
the model FLOP/s it is compared with, so "share of it" is a like-for-like ratio."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import cpu_train  # noqa: E402
import train_throughput  # noqa: E402


@pytest.mark.parametrize("width", [64, 256])
def test_step_gemms_count_the_model_flops_of_a_step(width):
    args = cpu_train.parse_args(["--batch", "4", "--seq", "16", "--layers", "2"])
    tokens, vocab = args.batch * args.seq, 120
    masked_fraction = 10 / tokens  # a whole number of masked tokens, so nothing is rounded
    shape = train_throughput.parse_args(
        ["--dim", str(width), "--ffn", str(4 * width), "--layers", "2", "--seq", str(args.seq)])
    model = train_throughput.flops_per_token(shape, vocab, masked_fraction) * tokens
    gemms = sum(2 * b * m * k * n for b, m, k, n in cpu_train.step_gemms(args, width, vocab, masked_fraction))
    assert gemms == pytest.approx(model, rel=1e-12)


def test_gemm_ceiling_times_every_gemm_of_the_step():
    args = cpu_train.parse_args(["--batch", "2", "--seq", "8", "--layers", "1"])
    result = cpu_train.gemm_ceiling(args, 64, "fp32", 50, 4 / 16)
    shapes = cpu_train.step_gemms(args, 64, 50, 4 / 16)
    assert len(shapes) == 6 * 3 + 2 * 3  # six products per layer and two in the head, each forward + 2 backward
    assert result["gemm_flops_per_step"] == sum(2 * b * m * k * n for b, m, k, n in shapes)
    assert result["gemm_seconds_per_step"] > 0
    assert result["ceiling"] == pytest.approx(result["gemm_flops_per_step"] / result["gemm_seconds_per_step"])
