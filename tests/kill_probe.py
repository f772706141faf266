"""Kill a tiny fairseq-train run with SIGKILL again and again, rerunning the same command
after each kill, and compare where it ends with an uninterrupted run.

``python tests/kill_probe.py DATA WORK KILLS SEED`` writes ``WORK/report.json``.

One process imports torch and fairseq once and forks each attempt, so an attempt costs
its start-up and training, not the imports. The run saves after every update and each
attempt is killed before its second save ends, so an attempt advances by one save at
most: a run of 24 updates is still unfinished after up to 23 kills, and the attempt after
the last kill runs to the end.

Two kills in three come from inside the save path, where a timed kill rarely lands: the
attempt counts the events of writing checkpoint files (each ``write`` through
xling.files' ``open``, each ``os.replace`` or ``os.rename``, each
``shutil.copyfile``) and SIGKILLs itself at a chosen one: half-way through the write or
the copy, or just before or after the rename. The others come from this process at a
random moment (start-up and resuming included). This process computes nothing with torch
until every attempt has ended, so no fork copies a busy thread pool.
"""

import json
import os
import random
import shutil
import signal
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = "1"

import torch  # noqa: E402
from fairseq_cli import train as train_cli  # noqa: E402

import fairseq_ext  # noqa: E402,F401 (its checkpoint hooks are what is tested)
from xling import files  # noqa: E402
from helpers import tiny_train_args  # noqa: E402

MAX_UPDATE, SAVE_EVERY = 24, 1
KINDS = ("write", "rename", "copy")


def command(data: Path, save_dir: Path):
    return tiny_train_args(data, save_dir, "en,fr", MAX_UPDATE, ["--save-interval-updates", str(SAVE_EVERY)])


class Faults:
    """Counts the save path's events; SIGKILLs this process at event ``at`` of ``kind``."""

    def __init__(self, kind=None, at=0, after=False):
        self.kind, self.at, self.after, self.counts = kind, at, after, Counter()
        self.started, self.save_ends = time.monotonic(), []  # seconds from the start to each rename

    def due(self, kind: str) -> bool:
        self.counts[kind] += 1
        if kind == "rename":
            self.save_ends.append(time.monotonic() - self.started)
        return kind == self.kind and self.counts[kind] == self.at

    @staticmethod
    def die():
        os.kill(os.getpid(), signal.SIGKILL)


class KilledWhileWriting:
    def __init__(self, file, faults: Faults):
        self._file, self._faults = file, faults

    def write(self, data):
        if self._faults.due("write"):
            self._file.write(data[: len(data) // 2])
            self._file.flush()
            self._faults.die()
        return self._file.write(data)

    def __getattr__(self, name):
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()


def install(faults: Faults) -> None:
    real_open, real_replace, real_rename, real_copyfile = open, os.replace, os.rename, shutil.copyfile

    def faulty_open(path, mode="r", *args, **kwargs):
        opened = real_open(path, mode, *args, **kwargs)
        return KilledWhileWriting(opened, faults) if "w" in mode else opened

    def faulty(rename):
        def renaming(src, dst, **kwargs):
            if faults.due("rename"):
                if faults.after:
                    rename(src, dst, **kwargs)
                faults.die()
            rename(src, dst, **kwargs)

        return renaming

    def faulty_copyfile(src, dst, **kwargs):
        if faults.due("copy"):
            with real_open(src, "rb") as source, real_open(dst, "wb") as target:
                target.write(source.read()[: os.path.getsize(src) // 2])
            faults.die()
        return real_copyfile(src, dst, **kwargs)

    files.open = faulty_open  # shadows the builtin in xling.files only
    os.replace, os.rename = faulty(real_replace), faulty(real_rename)
    shutil.copyfile = faulty_copyfile


def attempt(argv, log: Path, faults: Faults, counts_file: Path = None) -> int:
    """Fork one run of the command; returns its pid."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        os.dup2(out, 2)
        torch.set_num_threads(1)
        install(faults)
        sys.argv = ["fairseq-train", *argv]
        train_cli.cli_main()
        if counts_file is not None:
            counts_file.write_text(json.dumps({"counts": faults.counts, "renamed_at": faults.save_ends}))
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main(data: Path, work: Path, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    work.mkdir(parents=True, exist_ok=True)
    reference, killed = work / "reference", work / "killed"

    started = time.monotonic()
    pid = attempt(command(data, reference), work / "reference.log", Faults(), work / "events.json")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, (work / "reference.log").read_text()[-3000:]
    reference_run = json.loads((work / "events.json").read_text())
    events = reference_run["counts"]
    saves = (work / "reference.log").read_text().count("Saved checkpoint")
    kinds = [kind for kind in KINDS if events.get(kind)]
    per_save = {kind: max(1, events[kind] // saves) for kind in kinds}  # each save's events
    # from the start of a fresh attempt, the end of its first save and half the next update
    renames = events["rename"] // saves
    first_save_s, second_save_s = reference_run["renamed_at"][renames - 1], reference_run["renamed_at"][2 * renames - 1]
    timer_s = (first_save_s + second_save_s) / 2

    report = {"seed": seed, "reference_seconds": round(time.monotonic() - started, 1), "events_per_run": events,
              "saves_per_run": saves, "kills": Counter(), "attempts": [], "failures": []}
    n_kills = 0
    while len(report["attempts"]) < 4 * kills:
        log = work / f"attempt{len(report['attempts'])}.log"
        if n_kills >= kills:
            plan = Faults()  # enough kills: the last attempt runs to the end
        elif n_kills % 3 < 2:  # two kills in three: the save path's events in turn, at random places
            kind = kinds[sum(report["kills"][k] for k in kinds) % len(kinds)]
            plan = Faults(kind, rng.randint(1, per_save[kind]), after=rng.random() < 0.5)
        else:
            plan = Faults("timer")
        pid = attempt(command(data, killed), log, plan)
        if plan.kind == "timer":
            time.sleep(rng.uniform(0, timer_s))
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        where = plan.kind or "none"
        if plan.kind in KINDS:
            where += f"#{plan.at}" + (" after" if plan.kind == "rename" and plan.after else "")
        report["attempts"].append({"kill": where, "exit": code})
        if code == -signal.SIGKILL:
            n_kills += 1
            report["kills"][plan.kind] += 1
        elif code == 0:
            break
        else:
            report["failures"].append({"attempt": log.name, "kill": where, "log": log.read_text()[-3000:]})
            break

    if not report["failures"]:
        expected = torch.load(reference / "checkpoint_last.pt", map_location="cpu", weights_only=True)
        actual = torch.load(killed / "checkpoint_last.pt", map_location="cpu", weights_only=True)
        report["final_updates"] = actual["optimizer_history"][-1]["num_updates"]
        report["max_difference"] = max(
            (expected["model"][key] - actual["model"][key]).abs().max().item() for key in expected["model"]
        )
        report["same_keys"] = expected["model"].keys() == actual["model"].keys()
    report["seconds"] = round(time.monotonic() - started, 1)
    (work / "report.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
