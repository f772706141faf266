"""What a fixed wall-time budget buys: the dev loss after N minutes of training on one core.

Each recipe trains ``configs/tiny`` (Default) on the same binarized data for the same
wall time, one torch thread pinned to its own core, two recipes at a time on a 2-core
machine (as the demo runs them). A recipe is a name and fairseq-hydra-train overrides;
``max_update`` is where the learning rate reaches 0, so give each recipe the updates it
completes in the budget (``--probe`` measures them first: a short run per recipe), else
the schedule is cut off before it anneals. Printed per recipe: updates done, tokens per
update, the last validation loss (bits per masked subword) per language.

    python bench/three_minutes.py data/registry_en_fr/bin/joint --probe \\
        --recipe 'today:' --recipe 'batch64:dataset.batch_size=64,optimization.lr=[0.003]'

A recipe may train another checkout's ``configs/tiny`` and plugin (``NAME@CHECKOUT:...``),
e.g. the code of before an optimisation, in a ``git worktree``, side by side with today's:

    git worktree add /tmp/before 55c6cb9
    python bench/three_minutes.py data/registry_en_fr/bin/joint --probe \\
        --recipe 'before@/tmp/before:common.bf16=false' --recipe 'now:'
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRAIN = Path(sys.executable).with_name("fairseq-hydra-train")
RECORD = re.compile(r"\]\[(train|train_inner|valid)\]\[INFO\] - (\{.*\})")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", type=Path, help="a binarized folder with en/ and fr/ (the pipeline's bin/joint)")
    p.add_argument("--recipe", action="append", required=True,
                   help="NAME[@CHECKOUT]:key=value,key=value (overrides of configs/tiny/default.yaml, "
                   "may be empty; CHECKOUT: train that checkout's configs and plugin, default this one)")
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--probe", action="store_true",
                   help="first time each recipe for --probe-seconds and set max_update to what fits the budget")
    p.add_argument("--probe-seconds", type=float, default=40.0)
    p.add_argument("--langs", default="en,fr")
    p.add_argument("--parallel", type=int, default=2, help="recipes at a time, one core each")
    p.add_argument("--out", type=Path, help="write every record of every run here (JSON)")
    return p.parse_args(argv)


def parse_recipe(text: str):
    """(name, checkout, overrides)."""
    head, _, overrides = text.partition(":")
    name, _, checkout = head.partition("@")
    checkout = Path(checkout).resolve() if checkout else REPO
    if not (checkout / "configs/tiny/default.yaml").is_file():
        raise SystemExit(f"recipe {name}: {checkout} has no configs/tiny/default.yaml")
    return name, checkout, [o for o in re.split(r",(?=[+~]?[\w.]+=)", overrides) if o]


def command(args, checkout: Path, overrides, run_dir: Path, hours: float, max_update: int):
    return [
        str(TRAIN), "--config-dir", str(checkout / "configs/tiny"), "--config-name", "default",
        f"task.data={args.data.resolve()}", f"task.langs='{args.langs}'", "common.cpu=true",
        "common.log_format=json", "common.log_interval=50", f"common.user_dir={checkout / 'fairseq_ext'}",
        f"checkpoint.save_dir={run_dir / 'ckpt'}", "checkpoint.save_interval_updates=1000000",
        "checkpoint.no_save_optimizer_state=true", "checkpoint.no_last_checkpoints=true",
        f"hydra.run.dir={run_dir / 'hydra'}", f"optimization.stop_time_hours={hours}",
        f"optimization.max_update={max_update}", *overrides,
    ]


def run_all(jobs, parallel: int):
    """``jobs``: (name, cmd, log path); run ``parallel`` at a time, each pinned to one core."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cores = sorted(os.sched_getaffinity(0))
    pending, running, free = list(jobs), [], list(cores[:parallel])
    while pending or running:
        while pending and free:
            name, cmd, log = pending.pop(0)
            core = free.pop(0)
            out = open(log, "w")
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env,
                                    preexec_fn=lambda core=core: os.sched_setaffinity(0, {core}))
            running.append((name, proc, core, out, time.time()))
        time.sleep(1)
        for item in list(running):
            name, proc, core, out, started = item
            if proc.poll() is not None:
                out.close()
                running.remove(item)
                free.append(core)
                if proc.returncode:  # the run folders are removed on the way out: show the log here
                    tail = Path(out.name).read_text(encoding="utf-8", errors="replace")[-3000:]
                    raise SystemExit(f"{tail}\n{name} failed ({proc.returncode}); the end of its log is above")
                print(f"  {name}: {time.time() - started:.0f} s", flush=True)


def records(log: Path):
    out = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        match = RECORD.search(line)
        if match:
            out.append({"kind": match.group(1), **json.loads(match.group(2))})
    return out


def main(argv=None):
    args = parse_args(argv)
    recipes = [parse_recipe(r) for r in args.recipe]
    root = Path(tempfile.mkdtemp(prefix="xling_budget_"))
    budget_s = args.minutes * 60
    results = {"minutes": args.minutes, "data": str(args.data), "recipes": {}}
    try:
        max_updates = {name: 1_000_000 for name, _, _ in recipes}
        if args.probe:  # updates per second of each recipe, the same two-at-a-time load
            jobs = []
            for name, checkout, overrides in recipes:
                run_dir = root / f"probe_{name}"
                run_dir.mkdir()
                jobs.append((name, command(args, checkout, overrides, run_dir, args.probe_seconds / 3600, 1_000_000),
                             run_dir / "log.txt"))
            print(f"probing {len(jobs)} recipes for {args.probe_seconds:.0f} s each", flush=True)
            run_all(jobs, args.parallel)
            for name, _, log in jobs:
                inner = [r for r in records(log) if r["kind"] == "train_inner"]
                if len(inner) < 2:
                    raise SystemExit(f"{name}: fewer than two log records in {args.probe_seconds:.0f} s; "
                                     "probe longer (--probe-seconds)")
                # the steady rate between the first and last records: start-up and the
                # first updates (allocations, warm-up) would make it too low
                ups = (int(inner[-1]["num_updates"]) - int(inner[0]["num_updates"])) / (
                    float(inner[-1]["wall"]) - float(inner[0]["wall"]))
                max_updates[name] = int(ups * budget_s)
                print(f"  {name}: {ups:.2f} updates/s -> max_update {max_updates[name]}", flush=True)
        jobs = []
        for name, checkout, overrides in recipes:
            run_dir = root / name
            run_dir.mkdir()
            jobs.append((name, command(args, checkout, overrides, run_dir, args.minutes / 60, max_updates[name]),
                         run_dir / "log.txt"))
        print(f"training {len(jobs)} recipes for {args.minutes} min each, {args.parallel} at a time", flush=True)
        run_all(jobs, args.parallel)
        print("\n| recipe | updates | tokens/update | dev loss per language (bits) | overrides |\n|---|---|---|---|---|")
        for (name, checkout, overrides), (_, _, log) in zip(recipes, jobs):
            recs = records(log)
            valid = [r for r in recs if r["kind"] == "valid"][-1]
            train = [r for r in recs if r["kind"] == "train"][-1]
            losses = {lang: float(valid[f"valid_loss_{lang}"]) for lang in args.langs.split(",")}
            results["recipes"][name] = {"checkout": str(checkout), "overrides": overrides, "max_update": max_updates[name],
                                        "updates": int(valid["valid_num_updates"]),
                                        "tokens_per_update": float(train["train_wpb"]), "dev_loss": losses,
                                        "records": recs}
            print(f"| {name} | {valid['valid_num_updates']} | {float(train['train_wpb']):.0f} | "
                  + " / ".join(f"{lang} {v:.2f}" for lang, v in losses.items()) + f" | {' '.join(overrides)} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
