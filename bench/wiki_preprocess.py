"""Preprocessing throughput on a multi-part Wikipedia dump: the pipeline as 1 and as N array
tasks, against wikiextractor + ``spm_encode`` + ``fairseq-preprocess`` run by hand.

Systems, on the same dump (``bench/wiki_dump.py``: bz2 multistream parts with templates,
tables, links, refs) and the same sentencepiece model:

- ``xling, T tasks``: ``python -m preprocess.run CFG --phase P --task t --tasks T``, the four
  phases in order; the ``text`` and ``encode`` phases as T concurrent processes (what an
  array of T tasks runs, one core each), ``corpus`` and ``data`` as one. Each process is
  pinned to its core (``taskset``), as SLURM's task affinity pins a task to the CPUs it
  was given: a library that starts a thread per core of the machine (sentencepiece's batch
  encoding did) cannot make one task use two. The pipeline also
  cleans (langid, script, length filters), deduplicates, holds out valid/test documents
  and trains the vocabulary (on a sample drawn across shards).
- ``by hand, W workers``: per dump part ``python -m wikiextractor.WikiExtractor --processes W``,
  the ``<doc>`` lines stripped, then ``spm_encode --output_format=piece`` (Debian's
  sentencepiece) with the model the pipeline trained, then ``fairseq-preprocess
  --only-source --srcdict dict.txt --workers W``, each on W cores. No cleaning,
  deduplication or split.

Every command runs under ``/usr/bin/time`` for its peak resident memory. Printed: wall time
per phase, MB/s of dump (XML before compression) per task and overall, and the ratios.

    python bench/wiki_dump.py /tmp/dump --mb 200 --parts 4
    python bench/wiki_preprocess.py /tmp/dump --tasks 2 --out bench/results/wiki_preprocess.json
"""

import argparse
import bz2
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


CPUS = sorted(os.sched_getaffinity(0))


def cores(n: int) -> str:
    """The first ``n`` cores, as ``taskset -c`` takes them."""
    return ",".join(map(str, CPUS[:n]))


def timed(commands, log_dir: Path, name: str, stdout=None, pinned=None) -> dict:
    """Run ``commands`` concurrently, command i on core i (``pinned``: its cores), as SLURM
    pins an array task to the CPUs it was given; wall seconds and each one's peak RSS (MB)."""
    start, procs = time.time(), []
    for i, cmd in enumerate(commands):
        cmd = ["taskset", "-c", pinned[i] if pinned else str(CPUS[i % len(CPUS)]), *cmd]
        rss = log_dir / f"{name}.{i}.rss"
        out = open(stdout[i], "wb") if stdout else subprocess.DEVNULL
        err = open(log_dir / f"{name}.{i}.err", "wb")
        procs.append((subprocess.Popen(["/usr/bin/time", "-o", str(rss), "-f", "%M", *cmd], stdout=out, stderr=err,
                                       cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}), rss, out, err))
    for proc, rss, out, err in procs:
        proc.wait()
        for f in (out, err):
            if hasattr(f, "close"):
                f.close()
        if proc.returncode:
            raise RuntimeError(f"{name}: {proc.args} failed; see {err.name}")
    seconds = time.time() - start
    peaks = [int(rss.read_text().split()[-1]) / 1024 for _, rss, _, _ in procs]
    return {"seconds": round(seconds, 2), "peak_rss_mb": [round(p) for p in peaks]}


def pipeline_config(dump: Path, work: Path, args) -> Path:
    parts = sorted(str(p) for p in dump.glob("*-pages-articles-multistream*.xml.bz2"))
    config = {
        "langs": ["en"], "work_dir": str(work), "dictionaries": {}, "outputs": ["joint"],
        "corpora": {"wiki": {"en": {"source": "wikipedia", "paths": parts}}},
        "pretrain": {"domain": "wiki", "max_train_lines": 10**9},  # every clean line encoded, as by hand
        "vocab": {"joint_size": args.vocab, "sample_lines": args.sample_lines, "threads": 0},
        "clean": {"workers": 1}, "binarize": {"workers": 1},
    }
    path = work.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run_pipeline(dump: Path, tasks: int, root: Path, args) -> dict:
    work = root / f"xling{tasks}"
    config = pipeline_config(dump, work, args)
    logs = root / f"logs{tasks}"
    logs.mkdir()
    result = {}
    for phase in ("text", "corpus", "encode", "data"):
        n = tasks if phase in ("text", "encode") else 1
        cmds = [[PYTHON, "-m", "preprocess.run", str(config), "--phase", phase, "--tasks", str(tasks),
                 *(["--task", str(t)] if phase in ("text", "encode") else [])] for t in range(n)]
        result[phase] = timed(cmds, logs, phase)
        print(f"  xling {tasks} task(s) {phase}: {result[phase]}", flush=True)
    manifest = json.loads((work / "manifest.json").read_text())["stages"]
    result["lines"] = sum(m["report"]["lines_out"] for n, m in manifest.items() if n == "clean/wiki/en")
    return result


def run_by_hand(dump: Path, workers: int, model: Path, dict_txt: Path, root: Path) -> dict:
    out, logs = root / f"hand{workers}", root / f"hand_logs{workers}"
    out.mkdir()
    logs.mkdir()
    parts = sorted(dump.glob("*-pages-articles-multistream*.xml.bz2"))
    result = {"wikiextractor": timed([[PYTHON, "-m", "wikiextractor.WikiExtractor", str(p), "-o", str(out / p.stem),
                                       "--processes", str(workers), "-q"] for p in parts[:1]], logs, "we0", pinned=[cores(workers)])}
    # one part after another, as its CLI takes one dump; the first part's time is above
    for i, p in enumerate(parts[1:], 1):
        step = timed([[PYTHON, "-m", "wikiextractor.WikiExtractor", str(p), "-o", str(out / p.stem),
                       "--processes", str(workers), "-q"]], logs, f"we{i}", pinned=[cores(workers)])
        result["wikiextractor"]["seconds"] += step["seconds"]
        result["wikiextractor"]["peak_rss_mb"] += step["peak_rss_mb"]
    start = time.time()
    text = out / "text.txt"
    with open(text, "w", encoding="utf-8") as f:  # <doc ...> and </doc> lines out, as everyone does
        for path in sorted(out.glob("*/*/wiki_*")):
            for line in open(path, encoding="utf-8"):
                if not line.startswith(("<doc ", "</doc>")):
                    f.write(line)
    result["strip_doc_tags"] = {"seconds": round(time.time() - start, 2)}
    result["spm_encode"] = timed([["spm_encode", f"--model={model}", "--output_format=piece", f"--input={text}"]],
                                 logs, "spm", stdout=[out / "pieces.txt"], pinned=[cores(workers)])
    result["fairseq_preprocess"] = timed([[PYTHON, "-m", "fairseq_cli.preprocess", "--only-source", "--srcdict",
                                           str(dict_txt), "--trainpref", str(out / "pieces.txt"), "--destdir",
                                           str(out / "bin"), "--workers", str(workers), "--dataset-impl", "mmap"]],
                                         logs, "fairseq", pinned=[cores(workers)])
    result["lines"] = sum(1 for _ in open(text, encoding="utf-8"))
    for name, step in result.items():
        if name != "lines":
            print(f"  by hand {workers} worker(s) {name}: {step}", flush=True)
    return result


CEILING_WORK = """
import bz2, re, sys
word = re.compile(r"\\[\\[([^\\]|]*)")
with bz2.open(sys.argv[1]) as f:
    for block in iter(lambda: f.read(1 << 22), b""):
        if f.tell() > 150e6:
            break
        word.findall(block.decode("utf-8", "replace"))
"""


def machine_ceiling(dump: Path, tasks: int, log_dir: Path) -> dict:
    """What ``tasks`` processes gain on this machine at all: the same CPU-bound work (bz2
    decompression and a regex over 150 MB of the dump) once alone and ``tasks`` times at once."""
    part = str(sorted(dump.glob("*-pages-articles-multistream*.xml.bz2"))[0])
    one = timed([[PYTHON, "-c", CEILING_WORK, part]], log_dir, "ceiling1")["seconds"]
    many = timed([[PYTHON, "-c", CEILING_WORK, part]] * tasks, log_dir, f"ceiling{tasks}")["seconds"]
    return {"one_process_s": one, f"{tasks}_processes_s": many, "throughput_ratio": round(tasks * one / many, 2)}


def xml_mb(dump: Path) -> float:
    total = 0
    for p in sorted(dump.glob("*-pages-articles-multistream*.xml.bz2")):
        with bz2.open(p) as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                total += len(block)
    return total / 1e6


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dump", type=Path, help="folder of bench/wiki_dump.py's parts")
    parser.add_argument("--tasks", type=int, default=2, help="the larger task count (compared with 1)")
    parser.add_argument("--vocab", type=int, default=16000, help="sentencepiece pieces")
    parser.add_argument("--sample-lines", type=int, default=200000, help="lines sentencepiece trains on")
    parser.add_argument("--no-by-hand", action="store_true")
    parser.add_argument("--ceiling-only", action="store_true",
                        help="only measure what N processes gain on this machine (added to --out if it exists)")
    parser.add_argument("--out", type=Path, help="write the figures here (JSON)")
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temporary one)")
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="wiki_bench_"))
    (root / "ceiling").mkdir(parents=True, exist_ok=True)
    try:
        ceiling = machine_ceiling(args.dump, args.tasks, root / "ceiling")
        print(f"  machine: {ceiling}", flush=True)
        if args.ceiling_only:
            if args.out and args.out.exists():  # beside the figures of an earlier full run
                args.out.write_text(json.dumps({**json.loads(args.out.read_text()), "machine_ceiling": ceiling},
                                               indent=1) + "\n")
            return
        mb = xml_mb(args.dump)
        bz2_mb = sum(p.stat().st_size for p in args.dump.glob("*-pages-articles-multistream*.xml.bz2")) / 1e6
        print(f"dump: {mb:.1f} MB of XML, {bz2_mb:.1f} MB as bz2", flush=True)
        results = {"dump_xml_mb": round(mb, 1), "dump_bz2_mb": round(bz2_mb, 1), "cpus": os.cpu_count(),
                   "machine_ceiling": ceiling, "runs": {}}
        for tasks in (1, args.tasks):
            results["runs"][f"xling_{tasks}"] = run_pipeline(args.dump, tasks, root, args)
        if not args.no_by_hand:
            data = root / "xling1" / "bin" / "joint"
            dict_txt = root / "dict.txt"  # fairseq-preprocess wants symbol and count per line: ours is that
            shutil.copyfile(data / "dict.txt", dict_txt)
            for workers in (1, args.tasks):
                results["runs"][f"by_hand_{workers}"] = run_by_hand(args.dump, workers, data / "spm.model", dict_txt, root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    rows = []
    for name, run in results["runs"].items():
        steps = {k: v for k, v in run.items() if isinstance(v, dict)}
        wall = sum(s["seconds"] for s in steps.values())
        peak = max(max(s.get("peak_rss_mb", [0])) for s in steps.values())
        row = {"run": name, "wall_s": round(wall, 1), "MB_per_s": round(mb / wall, 2), "peak_rss_mb": peak}
        if name.startswith("xling"):
            array = steps["text"]["seconds"] + steps["encode"]["seconds"]
            tasks = int(name.split("_")[1])
            row.update(array_s=round(array, 1), array_MB_per_s=round(mb / array, 2),
                       array_MB_per_s_per_task=round(mb / array / tasks, 2))
        rows.append(row)
    results["summary"] = rows
    by = {r["run"]: r for r in rows}
    t = args.tasks
    results["ratios"] = {
        f"xling {t} tasks / 1 task, array phases": round(by[f"xling_{t}"]["array_MB_per_s"] / by["xling_1"]["array_MB_per_s"], 2),
        f"xling {t} tasks / 1 task, end to end": round(by[f"xling_{t}"]["MB_per_s"] / by["xling_1"]["MB_per_s"], 2),
    }
    if not args.no_by_hand:
        results["ratios"].update({
            "xling 1 task / by hand 1 worker": round(by["xling_1"]["MB_per_s"] / by["by_hand_1"]["MB_per_s"], 2),
            f"xling {t} tasks / by hand {t} workers": round(by[f"xling_{t}"]["MB_per_s"] / by[f"by_hand_{t}"]["MB_per_s"], 2),
            f"by hand {t} workers / 1 worker": round(by[f"by_hand_{t}"]["MB_per_s"] / by["by_hand_1"]["MB_per_s"], 2),
        })
    print(json.dumps({"summary": rows, "ratios": results["ratios"]}, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
