"""Training throughput of the plugin against stock fairseq and a plain transformers loop.

Systems, all at the same dimensions, data, batch, masking, optimizer and seed:

- ``stock``: fairseq ``masked_lm`` task + ``roberta`` model (one language);
- ``xling_default``: ``xling_mlm`` + ``xling_roberta``, everything shared (two languages);
- ``xling_sep_emb_l1_3``: the same with separate embeddings and layers 1-3;
- ``xling_default_fused``, ``xling_sep_emb_l1_3_fused``: the same on ``xling_adam``, the
  optimizer the launcher and the demo use (torch's fused AdamW, or apex's FusedAdam on
  GPUs that have it) instead of fairseq's ``adam`` (the "before" of the speed-up);
- ``*_loops``: any xling system with fairseq's per-parameter loops in the fp16/bf16
  master-weight optimizer and the gradient norm restored (``fairseq_ext.mixed_precision``
  uninstalled: the "before" of that speed-up);
- ``*_fairseq_layer``: any xling system built with fairseq's encoder layer instead of
  ``XlingEncoderLayer`` (the "before" of the leaner layer forward);
- ``hf``: transformers ``XLMRobertaForMaskedLM`` trained by a plain PyTorch loop on the
  same masked batches.

Each (system, round) runs in a fresh process, so peak memory is per system, and the
systems alternate round by round, so machine noise hits them alike. Ratios are printed
pair by pair (same round). MFU = achieved model FLOP/s over the measured peak of a large
matmul on the same device (and, on a GPU, over the spec peak given by --spec-tflops).

    python bench/train_throughput.py                       # CPU defaults
    python bench/train_throughput.py --device cuda --dtype bf16 --dim 768 --ffn 3072 \
        --heads 12 --seq 256 --batch 32 --spec-tflops 989
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # fairseq_ext, when run as a script from anywhere
SYSTEMS = ("stock", "xling_default", "xling_sep_emb_l1_3", "xling_default_fused", "xling_sep_emb_l1_3_fused", "hf")
SYSTEM_PATTERN = re.compile(r"stock|hf|xling_(default|sep_emb_l1_3)(_fused)?(_loops)?(_fairseq_layer)?")
VARIANTS = ("_loops", "_fairseq_layer")  # xling system + suffix: the "before" of one speed-up


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--systems", default=",".join(SYSTEMS),
                   help="comma-separated, from " + ",".join(SYSTEMS) + " and any xling system + _loops")
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--ffn", type=int, default=1024)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--dropout", type=float, default=0.1, help="dropout and attention dropout (the paper: 0.1)")
    p.add_argument("--threads", type=int, default=0, help="torch threads per process (0: every core)")
    p.add_argument("--seq", type=int, default=128, help="tokens per sample (stream length)")
    p.add_argument("--batch", type=int, default=16, help="streams per batch")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--steps", type=int, default=15, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--spec-tflops", type=float, default=None, help="the device's spec peak for --dtype (GPU)")
    p.add_argument("--data-dir", default=None, help="reuse a synthetic data folder (made if missing)")
    p.add_argument("--json", default=None, help="also write all results to this file")
    p.add_argument("--profile", default=None, help="folder: each system profiles 5 more steps into <system>.txt")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ---------------------------------------------------------------------------- workers


def fairseq_argv(args, system, data):
    common = [
        "--tokens-per-sample", str(args.seq), "--batch-size", str(args.batch),
        "--sample-break-mode", "none", "--max-positions", str(args.seq),
        "--encoder-layers", str(args.layers), "--encoder-embed-dim", str(args.dim),
        "--encoder-ffn-embed-dim", str(args.ffn), "--encoder-attention-heads", str(args.heads),
        "--dropout", str(args.dropout), "--attention-dropout", str(args.dropout),
        "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--adam-eps", "1e-6", "--lr", "1e-4",
        "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "1000",
        "--num-workers", "0", "--seed", "1", "--ddp-backend", "legacy_ddp",
        "--required-batch-size-multiple", "1",
    ]
    if args.device == "cpu":
        common.append("--cpu")
    common += {"bf16": ["--bf16"], "fp16": ["--fp16"], "fp32": []}[args.dtype]
    if system == "stock":
        return [str(data / "en"), "--task", "masked_lm", "--criterion", "masked_lm", "--arch", "roberta", *common]
    xling = [str(data), "--user-dir", str(REPO / "fairseq_ext"), "--task", "xling_mlm", "--langs", "en,fr",
             "--criterion", "xling_masked_lm", "--arch", "xling_roberta", *common]
    if system.startswith("xling_sep_emb_l1_3"):
        xling += ["--lang-specific-embeddings", "--lang-specific-layers", "3"]
    if "_fused" in system:
        xling += ["--optimizer", "xling_adam"]  # argparse: the last --optimizer wins
    return xling


def build_trainer(argv):
    import numpy as np
    from fairseq import options, tasks, utils
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.trainer import Trainer

    args = options.parse_args_and_arch(options.get_training_parser(), argv)
    # fairseq's argparse ties --bf16 to --tpu, which would also send stock masked_lm down
    # its TPU path (the LM head on every token); this bench never runs on a TPU
    args.tpu = False
    cfg = convert_namespace_to_omegaconf(args)
    utils.import_user_module(cfg.common)
    np.random.seed(1)
    utils.set_torch_seed(1)
    task = tasks.setup_task(cfg.task)
    model = task.build_model(cfg.model)
    trainer = Trainer(cfg, task, model, task.build_criterion(cfg.criterion))
    return trainer, task


def masked_batches(trainer, count):
    itr = trainer.get_train_iterator(epoch=1, load_dataset=True).next_epoch_itr(shuffle=True)
    batches = []
    while len(batches) < count:
        if not itr.has_next():
            itr = trainer.get_train_iterator(epoch=2, load_dataset=True).next_epoch_itr(shuffle=True)
        batches.append(next(itr))
    return batches


def run_fairseq(args, system, data):
    if system.endswith("_fairseq_layer"):
        from fairseq.models.transformer import TransformerEncoder

        from fairseq_ext.models.xling_roberta import LanguageAwareTransformerEncoder

        LanguageAwareTransformerEncoder.build_encoder_layer = TransformerEncoder.build_encoder_layer
    trainer, _ = build_trainer(fairseq_argv(args, system, data))
    if "_loops" in system:
        from fairseq_ext import mixed_precision

        mixed_precision.uninstall()
    batches = masked_batches(trainer, args.warmup + args.steps)
    params = sum(p.numel() for p in trainer.model.parameters())
    return time_steps(args, system, lambda batch: trainer.train_step([batch]), batches), params


def run_hf(args, data):
    """A plain transformers loop on the same masked batches as xling_default."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    trainer, task = build_trainer(fairseq_argv(args, "xling_default", data))
    batches = masked_batches(trainer, args.warmup + args.steps)
    pad = task.source_dictionary.pad()
    del trainer
    torch.manual_seed(1)
    config = XLMRobertaConfig(
        vocab_size=len(task.source_dictionary), hidden_size=args.dim, num_hidden_layers=args.layers,
        num_attention_heads=args.heads, intermediate_size=args.ffn, max_position_embeddings=args.seq + pad + 1,
        type_vocab_size=1, pad_token_id=pad, bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5,
        hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout,
    )
    device = torch.device(args.device)
    model = XLMRobertaForMaskedLM(config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.0)
    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[args.dtype]

    def step(batch):
        tokens = batch["net_input"]["src_tokens"].to(device)
        labels = batch["target"].to(device).masked_fill(batch["target"].to(device).eq(pad), -100)
        with torch.autocast(args.device, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            loss = model(input_ids=tokens, attention_mask=tokens.ne(pad), labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return time_steps(args, "hf", step, batches), sum(p.numel() for p in model.parameters())


def time_steps(args, system, step, batches):
    """Warm up, time the remaining batches; with --profile, profile a few more steps after."""
    for batch in batches[: args.warmup]:
        step(batch)
    sync(args.device)
    start = time.perf_counter()
    for batch in batches[args.warmup :]:
        step(batch)
    sync(args.device)
    seconds = time.perf_counter() - start
    if args.profile:
        profile_steps(args, system, step, batches[args.warmup : args.warmup + 5])
    return batches[args.warmup :], seconds


def profile_steps(args, system, step, batches):
    """Write the top operators and how busy the device was to PROFILE/<system>.txt."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device == "cuda" else [])
    sync(args.device)
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        for batch in batches:
            step(batch)
        sync(args.device)
    wall = time.perf_counter() - start
    events = prof.key_averages()
    sort_by = "self_device_time_total" if args.device == "cuda" else "self_cpu_time_total"
    lines = [f"{system}: {len(batches)} steps, {wall * 1e3 / len(batches):.1f} ms/step under the profiler"]
    if args.device == "cuda":
        # kernels only: record_function ranges (forward, optimizer, ...) also show on the GPU timeline
        kernel_us = sum(
            e.self_device_time_total for e in prof.events()
            if e.device_type == torch.autograd.DeviceType.CUDA and not e.is_user_annotation
        )
        lines.append(f"device busy {kernel_us / 1e3 / len(batches):.1f} ms/step = "
                     f"{100 * kernel_us / 1e6 / wall:.0f}% of wall time")
    lines.append(events.table(sort_by=sort_by, row_limit=30, max_name_column_width=60))
    out = Path(args.profile)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{system}.txt").write_text("\n".join(lines))


def sync(device):
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


_cuda_peak = [0]


def keep_cuda_peak_over_resets():
    """fairseq's trainer resets CUDA's peak-memory counter every step: keep the maximum."""
    import torch

    reset = torch.cuda.reset_peak_memory_stats

    def remembering_reset(device=None):
        _cuda_peak[0] = max(_cuda_peak[0], torch.cuda.max_memory_allocated(device))
        reset(device)

    torch.cuda.reset_peak_memory_stats = remembering_reset


def peak_memory_mb(device):
    import torch

    if device == "cuda":
        return max(_cuda_peak[0], torch.cuda.max_memory_allocated()) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def worker(args):
    import torch

    if args.device == "cpu":
        torch.set_num_threads(args.threads or os.cpu_count())
    else:
        keep_cuda_peak_over_resets()
    data = Path(args.data_dir)
    if args.worker == "hf":
        (batches, seconds), params = run_hf(args, data)
    else:
        (batches, seconds), params = run_fairseq(args, args.worker, data)
    tokens = sum(int(b["ntokens"]) for b in batches)
    masked = sum(int(b["target"].ne(1).sum()) for b in batches)
    print(json.dumps({
        "system": args.worker, "words_per_s": tokens / seconds, "seconds": seconds, "tokens": tokens,
        "masked_fraction": masked / tokens, "params": params, "peak_memory_mb": peak_memory_mb(args.device),
    }))


# ---------------------------------------------------------------------------- driver


def flops_per_token(args, vocab, masked_fraction):
    """Training FLOPs per token (forward + backward = 3 x forward, 2 FLOPs per multiply-add)."""
    d, f, layers, seq = args.dim, args.ffn, args.layers, args.seq
    matmul = layers * (4 * d * d + 2 * d * f)  # q, k, v, out projections and the FFN
    attention = layers * 2 * seq * d  # scores and weighted sum, per token
    head = masked_fraction * (d * d + d * vocab)  # the LM head runs on masked tokens only
    return 6 * (matmul + attention + head)


def measured_peak_flops(device, dtype):
    import torch

    torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    n = 2048 if device == "cpu" else 8192
    a = torch.randn(n, n, device=device, dtype=torch_dtype)
    b = torch.randn(n, n, device=device, dtype=torch_dtype)
    best = float("inf")
    for _ in range(5):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def ensure_data(args):
    if args.data_dir and (Path(args.data_dir) / "dict.txt").exists():
        return Path(args.data_dir)
    from fairseq_ext.synthetic import make_data

    root = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="xling_bench_"))
    lines = max(2000, args.batch * (args.warmup + args.steps) * args.seq // 8)
    return make_data(root, {"en": (lines, 50), "fr": (lines, 50)})


def drop_option(argv, name):
    """argv without `name VALUE` or `name=VALUE`."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            kept.append(arg)
    return kept


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    data = ensure_data(args)
    systems = args.systems.split(",")
    unknown = [s for s in systems if not SYSTEM_PATTERN.fullmatch(s)]
    if unknown:
        raise SystemExit(f"--systems: unknown {unknown}; choose from {SYSTEMS} or an xling system + {VARIANTS}")
    passthrough = drop_option(argv if argv is not None else sys.argv[1:], "--data-dir")
    results = {s: [] for s in systems}
    for round_index in range(args.rounds):
        for system in systems:
            cmd = [sys.executable, __file__, *passthrough, "--data-dir", str(data), "--worker", system]
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            if done.returncode != 0:
                raise SystemExit(f"{system} failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results[system].append(result)
            print(f"round {round_index + 1} {system:20s} {result['words_per_s']:10.0f} words/s "
                  f"peak {result['peak_memory_mb']:8.0f} MB", flush=True)

    peak = measured_peak_flops(args.device, args.dtype)
    vocab = len(open(data / "dict.txt", encoding="utf-8").read().splitlines()) + 5
    print(f"\nmeasured matmul peak: {peak / 1e12:.3f} TFLOP/s ({args.device}, {args.dtype})")
    summary = {"config": vars(args), "peak_flops": peak, "systems": {}}
    for system, runs in results.items():
        wps = [r["words_per_s"] for r in runs]
        fpt = flops_per_token(args, vocab, runs[0]["masked_fraction"])
        mfu = statistics.median(wps) * fpt / peak
        line = (f"{system:20s} median {statistics.median(wps):10.0f} words/s  "
                f"peak memory {max(r['peak_memory_mb'] for r in runs):8.0f} MB  MFU {100 * mfu:5.1f}%")
        if args.spec_tflops:
            line += f" (of spec: {100 * statistics.median(wps) * fpt / (args.spec_tflops * 1e12):5.1f}%)"
        print(line)
        summary["systems"][system] = {"words_per_s": wps, "mfu": mfu, "runs": runs}
    comparisons = [(s, "stock") for s in systems if s != "stock"]
    # after / before: fused Adam over fairseq's adam, foreach kernels over fairseq's loops
    comparisons += [(s, s.replace("_fused", "")) for s in systems if "_fused" in s]
    comparisons += [(s.replace(v, ""), s) for s in systems for v in VARIANTS if v in s]
    for system, reference in comparisons:
        if system in results and reference in results:
            ratios = [a["words_per_s"] / b["words_per_s"] for a, b in zip(results[system], results[reference])]
            print(f"{system} / {reference}, round by round: " + ", ".join(f"{r:.3f}" for r in ratios)
                  + f"  (median {statistics.median(ratios):.3f})")
            summary["systems"][system][f"ratio_to_{reference}"] = ratios
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
