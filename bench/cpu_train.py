"""Training speed per CPU core: the plugin against stock fairseq and a transformers loop.

For every width, precision and number of concurrent processes, each system of
``train_throughput.py`` trains the same batches in fresh processes with one torch thread
each, every process pinned to its own core, so the figures are per core. With
``--procs 2`` two copies run at once on two cores (what the demo does), which shows
what sharing the memory system costs. The systems alternate within each round and
ratios are taken within a round (this machine is shared, and its noise is large).

Model FLOPs are counted as in ``train_throughput.flops_per_token`` (6 x multiply-adds,
attention included, the LM head on masked tokens only). MFU is given over the same
core's measured fp32 and bf16 matmul rates: the best of several shapes, best of ten
runs each, measured before and after the training runs, so it is a harsh denominator.
The GEMM-only ceiling is what a step would reach if all but its GEMMs were free: the
step's GEMMs at their own shapes, timed alone. At small widths it sits well below the
peak (small GEMMs are slower), and it bounds what fusing the elementwise work can buy.

    python bench/cpu_train.py                                   # widths 64-512, fp32 and bf16
    python bench/cpu_train.py --widths 256 --dtypes bf16 --procs 1,2 --rounds 3
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_throughput  # noqa: E402

REPO = train_throughput.REPO
DEMO_DATA = REPO / "data/registry_en_fr/bin/joint"
MATMUL_SHAPES = ((2048, 2048, 2048), (2048, 256, 1024), (2048, 1024, 256), (4096, 512, 2048))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--widths", default="64,128,256,512", help="model widths (FFN 4x, heads width/64, at least 4)")
    p.add_argument("--dtypes", default="fp32,bf16")
    p.add_argument("--procs", default="1", help="concurrent processes, one core each, e.g. 1,2")
    p.add_argument("--systems", default="xling_default_fused,xling_default_fused_fairseq_layer,stock,hf")
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--seq", type=int, default=64, help="stream length (the tiny recipe's)")
    p.add_argument("--batch", type=int, default=32, help="streams per batch (the tiny recipe's)")
    p.add_argument("--dropout", type=float, default=0.0, help="the tiny recipe's")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--data-dir", default=str(DEMO_DATA) if (DEMO_DATA / "dict.txt").exists() else None,
                   help="a binarized folder with en/ and fr/ (default: the demo's joint data when present, "
                   "else synthetic)")
    p.add_argument("--json", default=None, help="also write every result to this file")
    return p.parse_args(argv)


def data_view(data: Path) -> Path:
    """``data`` as both systems read it: stock ``masked_lm`` wants ``dict.txt`` inside ``en/``."""
    view = Path(tempfile.mkdtemp(prefix="xling_cpu_bench_"))
    (view / "dict.txt").symlink_to(data / "dict.txt")
    for lang in ("en", "fr"):
        (view / lang).mkdir()
        for path in [*(data / lang).iterdir(), data / "dict.txt"]:
            (view / lang / path.name).symlink_to(path.resolve())
    return view


def heads_for(width: int) -> int:
    return max(4, width // 64)


def gemm_seconds(b: int, m: int, k: int, n: int, dtype: str, repeats: int) -> float:
    """The best time of ``repeats`` runs of a (b x) m x k by k x n GEMM, one thread, into a
    preallocated output (a fresh result would time its page faults too)."""
    import torch

    torch.set_num_threads(1)
    torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    x, w = torch.randn(b, m, k, dtype=torch_dtype), torch.randn(b, k, n, dtype=torch_dtype)
    out = torch.empty(b, m, n, dtype=torch_dtype)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.bmm(x, w, out=out) if b > 1 else torch.mm(x[0], w[0], out=out[0])
        best = min(best, time.perf_counter() - start)
    return best


def matmul_peak(dtype: str) -> dict:
    """This core's best matmul rate (FLOP/s) over a few shapes, one thread."""
    rates = {f"{m}x{k}x{n}": 2 * m * k * n / gemm_seconds(1, m, k, n, dtype, repeats=12) for m, k, n in MATMUL_SHAPES}
    return {"best": max(rates.values()), "shapes": rates}


def step_gemms(args, width: int, vocab: int, masked_fraction: float):
    """The (batch, m, k, n) of every GEMM in one training step of the benchmark's model:
    each linear map and attention product forward, and its two backward products."""
    tokens, seq, heads = args.batch * args.seq, args.seq, heads_for(width)
    streams, head_dim, masked = args.batch * heads, width // heads, round(masked_fraction * tokens)

    def trained(b, m, k, n):  # y = x w: y, then dx = dy wᵀ and dw = xᵀ dy
        return [(b, m, k, n), (b, m, n, k), (b, k, m, n)]

    layer = [
        *trained(1, tokens, width, 3 * width),  # q, k, v
        *trained(streams, seq, head_dim, seq),  # scores
        *trained(streams, seq, seq, head_dim),  # weighted values
        *trained(1, tokens, width, width),  # out projection
        *trained(1, tokens, width, 4 * width),
        *trained(1, tokens, 4 * width, width),
    ]
    head = [*trained(1, masked, width, width), *trained(1, masked, width, vocab)]
    return layer * args.layers + head


def gemm_ceiling(args, width: int, dtype: str, vocab: int, masked_fraction: float) -> dict:
    """The model FLOP/s a training step would reach if everything but its GEMMs took no
    time: the step's GEMMs, each timed alone (contiguous operands, one thread, best of 5)."""
    shapes = step_gemms(args, width, vocab, masked_fraction)
    seconds = sum(gemm_seconds(*shape, dtype, repeats=5) for shape in shapes)
    flops = sum(2 * b * m * k * n for b, m, k, n in shapes)
    return {"gemm_seconds_per_step": seconds, "gemm_flops_per_step": flops, "ceiling": flops / seconds}


def worker_cmd(args, system, width, dtype, data):
    return [
        sys.executable, str(Path(train_throughput.__file__)), "--worker", system, "--device", "cpu",
        "--dtype", dtype, "--threads", "1", "--layers", str(args.layers), "--dim", str(width),
        "--ffn", str(4 * width), "--heads", str(heads_for(width)), "--seq", str(args.seq),
        "--batch", str(args.batch), "--dropout", str(args.dropout), "--warmup", str(args.warmup),
        "--steps", str(args.steps), "--data-dir", str(data),
    ]


def run_concurrently(cmds):
    """Start every command on its own core at once; their JSON results."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cores = sorted(os.sched_getaffinity(0))
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env,
                         preexec_fn=lambda core=cores[i % len(cores)]: os.sched_setaffinity(0, {core}))
        for i, cmd in enumerate(cmds)
    ]
    results = []
    for cmd, proc in zip(cmds, procs):
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def main(argv=None):
    args = parse_args(argv)
    widths = [int(w) for w in args.widths.split(",")]
    dtypes = args.dtypes.split(",")
    procs_list = [int(p) for p in args.procs.split(",")]
    systems = args.systems.split(",")
    data = data_view(Path(args.data_dir).resolve()) if args.data_dir else train_throughput.ensure_data(
        train_throughput.parse_args(["--seq", str(args.seq), "--batch", str(args.batch)]))
    vocab = len((data / "dict.txt").read_text(encoding="utf-8").splitlines()) + 5
    peaks_before = {dtype: matmul_peak(dtype) for dtype in ("fp32", "bf16")}
    print("matmul peak per core: " + ", ".join(f"{d} {p['best'] / 1e9:.0f} GFLOP/s" for d, p in peaks_before.items()),
          flush=True)

    results = []  # one record per (round, width, dtype, procs, system)
    ceilings = {}  # (width, dtype): gemm_ceiling()
    for round_index in range(args.rounds):
        for width in widths:
            shape = train_throughput.parse_args([
                "--dim", str(width), "--ffn", str(4 * width), "--layers", str(args.layers), "--seq", str(args.seq)])
            for dtype in dtypes:
                for procs in procs_list:
                    for system in systems:
                        runs = run_concurrently([worker_cmd(args, system, width, dtype, data)] * procs)
                        fpt = train_throughput.flops_per_token(shape, vocab, runs[0]["masked_fraction"])
                        per_core = statistics.mean(r["tokens_per_s"] for r in runs)
                        record = {"round": round_index + 1, "width": width, "dtype": dtype, "procs": procs,
                                  "system": system, "tokens_per_s_per_core": per_core,
                                  "flops_per_token": fpt, "model_flops_per_core": per_core * fpt,
                                  "peak_memory_mb": max(r["peak_memory_mb"] for r in runs), "runs": runs}
                        results.append(record)
                        if (width, dtype) not in ceilings:
                            ceilings[width, dtype] = gemm_ceiling(args, width, dtype, vocab, runs[0]["masked_fraction"])
                        print(f"round {round_index + 1} width {width:4d} {dtype} procs {procs} {system:36s} "
                              f"{per_core:8.0f} tokens/s/core {per_core * fpt / 1e9:6.1f} GFLOP/s/core", flush=True)

    peaks_after = {dtype: matmul_peak(dtype) for dtype in ("fp32", "bf16")}
    peaks = {d: max(peaks_before[d]["best"], peaks_after[d]["best"]) for d in peaks_before}
    print(f"\nmatmul peak per core (best before/after): fp32 {peaks['fp32'] / 1e9:.0f}, "
          f"bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s\n")
    print("GEMM-only ceiling: the model FLOP/s if everything but the step's GEMMs took no time")
    print("| width | dtype | procs | system | tokens/s/core (median) | GFLOP/s/core | MFU of fp32 peak | MFU of bf16 peak "
          "| GEMM-only ceiling GFLOP/s | share of it |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    groups = {}
    for r in results:
        groups.setdefault((r["width"], r["dtype"], r["procs"], r["system"]), []).append(r)
    for (width, dtype, procs, system), rows in groups.items():
        tps = statistics.median(r["tokens_per_s_per_core"] for r in rows)
        flops = statistics.median(r["model_flops_per_core"] for r in rows)
        ceiling = ceilings[width, dtype]["ceiling"]
        print(f"| {width} | {dtype} | {procs} | {system} | {tps:.0f} | {flops / 1e9:.1f} | "
              f"{100 * flops / peaks['fp32']:.0f}% | {100 * flops / peaks['bf16']:.1f}% | {ceiling / 1e9:.0f} | "
              f"{100 * flops / ceiling:.0f}% |")
    print()
    reference = systems[0]
    for width in widths:
        for dtype in dtypes:
            for procs in procs_list:
                for other in systems[1:]:
                    ratios = [
                        a["tokens_per_s_per_core"] / b["tokens_per_s_per_core"]
                        for a in results for b in results
                        if a["round"] == b["round"] and (a["width"], a["dtype"], a["procs"]) == (width, dtype, procs)
                        and (b["width"], b["dtype"], b["procs"]) == (width, dtype, procs)
                        and a["system"] == reference and b["system"] == other
                    ]
                    print(f"width {width} {dtype} procs {procs}: {reference} / {other}, round by round: "
                          + ", ".join(f"{x:.3f}" for x in ratios) + f"  (median {statistics.median(ratios):.3f})")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({
            "config": vars(args), "peaks": {"before": peaks_before, "after": peaks_after, "best": peaks},
            "gemm_ceilings": [{"width": w, "dtype": d, **c} for (w, d), c in ceilings.items()],
            "results": results}, indent=1))


if __name__ == "__main__":
    main()
