"""Time and peak memory of the analysis hot paths against naive implementations.

- CKA of every layer pair of two 9-layer models on n sentences of d dims (the paper's
  Figure 7 at n = 10,000, d = 768): ``fairseq_ext.analysis.cka.cka_matrix`` (n x d
  feature products) vs the n x n kernel route (one centred Gram matrix per layer, HSIC as
  their inner product; the Y grams are kept, X's computed one at a time).
- CSLS word retrieval (K = 10): queries against a V-word target vocabulary, r_S over a
  V-word source vocabulary: ``fairseq_ext.analysis.neighbours.retrieve`` (row blocks) vs
  the whole similarity matrices at once. The naive route needs V x V floats, so it runs
  only at the sizes given by --csls-naive-vocab; the blocked one also at --csls-vocab.

Each case runs in a fresh process (peak RSS is per case, baseline = the process after
importing torch and making the inputs); cases of one size alternate round by round, and
the results are checked (CKA: each route's max |error| against the feature route in
float64; CSLS: equal top-5 indices).

    python bench/analysis.py                      # paper sizes for CKA; CSLS at 200k
    python bench/analysis.py --quick              # small sizes, a smoke run
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10000, help="CKA: sentences")
    p.add_argument("--dim", type=int, default=768, help="CKA: representation size")
    p.add_argument("--layers", type=int, default=9, help="CKA: layers per model (L0..L8)")
    p.add_argument("--cka-dtype", default="float32", choices=["float32", "float64"], help="CKA: dtype of both routes")
    p.add_argument("--csls-vocab", type=int, default=200000, help="CSLS: target and source vocabulary (blocked only)")
    p.add_argument("--csls-naive-vocab", default="10000,20000", help="CSLS: sizes where both routes run")
    p.add_argument("--csls-dim", type=int, default=300, help="CSLS: vector size (fastText's 300)")
    p.add_argument("--queries", type=int, default=1500, help="CSLS: query words (MUSE test: 1.5k)")
    p.add_argument("--rounds", type=int, default=1, help="repetitions of each case")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads per case (0: torch's default)")
    p.add_argument("--skip", default="", help="comma-separated cases to skip: cka, csls_naive, csls_large")
    p.add_argument("--quick", action="store_true", help="n=1000, d=128, CSLS 5k/20k")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.dim, args.csls_vocab, args.csls_naive_vocab = 1000, 128, 20000, "5000"
    return args


# ---------------------------------------------------------------------------- workers


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cka_inputs(n, dim, layers, dtype):
    """Related random layers, drawn in float64 and cast one by one (so every dtype sees the
    same numbers, and the memory high-water mark before the timed part is about the inputs)."""
    import torch

    g = torch.Generator().manual_seed(0)
    f64 = torch.float64
    base = torch.randn(n, dim, generator=g, dtype=f64)
    rotation = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=f64))[0]
    xs, ys = [], []
    for layer in range(layers):
        x = base + 0.5 * layer * torch.randn(n, dim, generator=g, dtype=f64)
        xs.append(x.to(dtype))
        ys.append((x @ rotation + torch.randn(n, dim, generator=g, dtype=f64)).to(dtype))
    return xs, ys


def naive_cka_matrix(xs, ys):
    """CKA through n x n centred Gram matrices."""
    import torch

    def centred_gram(x):
        k = x @ x.T
        mean = k.mean(0)
        return k - mean[None, :] - mean[:, None] + mean.mean()

    y_grams = [centred_gram(y) for y in ys]
    y_norms = [torch.linalg.matrix_norm(l) for l in y_grams]
    out = torch.empty(len(xs), len(ys), dtype=torch.float64)
    for i, x in enumerate(xs):
        k = centred_gram(x)
        k_norm = torch.linalg.matrix_norm(k)
        for j, l in enumerate(y_grams):
            out[i, j] = (k * l).sum() / (k_norm * y_norms[j])
    return out.numpy()


def naive_csls(queries, candidates, source, k, csls_k):
    import torch

    q, c, s = (torch.nn.functional.normalize(m, dim=1) for m in (queries, candidates, source))
    sim = q @ c.T
    r_target = sim.topk(csls_k, dim=1).values.mean(1)
    r_source = (c @ s.T).topk(csls_k, dim=1).values.mean(1)
    return (2 * sim - r_target[:, None] - r_source[None, :]).topk(k, dim=1).indices


def worker(spec: dict) -> dict:
    import torch

    sys.path.insert(0, str(REPO))
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    if spec["case"].startswith("cka"):
        from fairseq_ext.analysis.cka import cka_matrix

        dtype = getattr(torch, spec["dtype"])
        xs, ys = cka_inputs(spec["n"], spec["dim"], spec["layers"], dtype)
        baseline = peak_rss_mib()
        start = time.perf_counter()
        if spec["case"] == "cka_features":
            result = cka_matrix(xs, ys, dtype=dtype)
        else:
            result = naive_cka_matrix(xs, ys)
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "peak_rss_mib": peak_rss_mib(), "baseline_rss_mib": baseline, "result": result.tolist()}
    from fairseq_ext.analysis.neighbours import retrieve

    g = torch.Generator().manual_seed(0)
    vocab, dim = spec["vocab"], spec["dim"]
    target = torch.randn(vocab, dim, generator=g)
    source = target + 0.7 * torch.randn(vocab, dim, generator=g)  # a noisy copy: query i translates to word i
    queries = source[: spec["queries"]]
    baseline = peak_rss_mib()
    start = time.perf_counter()
    if spec["case"] == "csls_blocked":
        _, top = retrieve(queries, target, k=5, method="csls", csls_k=10, source_space=source)
    else:
        top = naive_csls(queries, target, source, 5, 10)
    seconds = time.perf_counter() - start
    hits = float((top[:, 0] == torch.arange(len(queries))).float().mean())
    return {"seconds": seconds, "peak_rss_mib": peak_rss_mib(), "baseline_rss_mib": baseline,
            "top5": top.tolist(), "p@1": hits}


def run_case(spec: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{spec}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarise(spec, runs):
    seconds = [r["seconds"] for r in runs]
    return {**spec, "seconds_median": statistics.median(seconds), "seconds": seconds,
            "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
            "above_baseline_mib": max(r["peak_rss_mib"] - r["baseline_rss_mib"] for r in runs)}


def compare(cases, rounds):
    """Alternate the cases round by round; return (summaries, last result of each)."""
    runs = {i: [] for i in range(len(cases))}
    for _ in range(rounds):
        for i, spec in enumerate(cases):
            runs[i].append(run_case(spec))
            print(f"  {spec['case']}: {runs[i][-1]['seconds']:.2f} s", file=sys.stderr)
    return [summarise(spec, runs[i]) for i, spec in enumerate(cases)], [runs[i][-1] for i in range(len(cases))]


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    import numpy as np

    skip = set(filter(None, args.skip.split(",")))
    report = {"threads": args.threads or __import__("torch").get_num_threads(), "results": []}
    if "cka" not in skip:
        base = {"n": args.n, "dim": args.dim, "layers": args.layers, "dtype": args.cka_dtype, "threads": args.threads}
        cases = [{**base, "case": "cka_features"}, {**base, "case": "cka_naive_kernels"}]
        summaries, last = compare(cases, args.rounds)
        # the error of each route against the feature route in float64 (the inputs are the same numbers)
        reference = np.array(run_case({**base, "dtype": "float64", "case": "cka_features"})["result"])
        error = {name: float(np.abs(np.array(r["result"]) - reference).max()) for name, r in zip(("features", "naive"), last)}
        report["results"].append({
            "bench": "cka", "features": summaries[0], "naive": summaries[1], "max_abs_error_vs_float64": error,
            "time_ratio_naive_over_features": summaries[1]["seconds_median"] / summaries[0]["seconds_median"],
            "memory_ratio_naive_over_features": summaries[1]["above_baseline_mib"] / max(summaries[0]["above_baseline_mib"], 1),
        })
    sizes = [int(v) for v in args.csls_naive_vocab.split(",") if v] if "csls_naive" not in skip else []
    for vocab in sizes:
        base = {"vocab": vocab, "dim": args.csls_dim, "queries": args.queries, "threads": args.threads}
        summaries, last = compare([{**base, "case": "csls_blocked"}, {**base, "case": "csls_naive"}], args.rounds)
        report["results"].append({
            "bench": "csls", "blocked": summaries[0], "naive": summaries[1],
            "same_top5": last[0]["top5"] == last[1]["top5"], "p@1": last[0]["p@1"],
            "time_ratio_naive_over_blocked": summaries[1]["seconds_median"] / summaries[0]["seconds_median"],
            "memory_ratio_naive_over_blocked": summaries[1]["above_baseline_mib"] / max(summaries[0]["above_baseline_mib"], 1),
        })
    if "csls_large" not in skip:
        spec = {"vocab": args.csls_vocab, "dim": args.csls_dim, "queries": args.queries, "threads": args.threads,
                "case": "csls_blocked"}
        summaries, last = compare([spec], args.rounds)
        report["results"].append({
            "bench": "csls", "blocked": summaries[0], "p@1": last[0]["p@1"],
            "naive_would_need_mib": args.csls_vocab * args.csls_vocab * 4 / 2**20,
        })
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
