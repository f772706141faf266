"""Interrupting ``make demo`` in pretraining: Ctrl-C stops the demo and its training jobs,
a second demo on the same folders is refused while the first one trains, and a rerun
resumes the interrupted runs; SIGTERM to the rerun alone stops it and its jobs too.

The demo is started the way a script's ``cmd &`` starts it, with SIGINT ignored, in a
session of its own so that every process it starts can be found."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from helpers import REPO
from fairseq_ext.checkpoints import stored_updates
from slurm.runs import CHECKPOINTS, DONE, read_log
from registry_slice import small_demo_config
import pytest

pytestmark = pytest.mark.slow  # a reduced demo, interrupted and resumed: make test runs it, make test-fast does not

UPDATES = 400  # more than either demo trains before it is stopped
STOP_S = 15  # what "within seconds" means here


def start_demo(config: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fairseq_ext.demo", "--config", str(config)], cwd=REPO,
        stdout=open(log, "w"), stderr=subprocess.STDOUT, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )


def session(sid: int):
    """Live processes of session ``sid`` (zombies excluded)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, _, process_session = stat.read_text().rsplit(")", 1)[1].split()[:4]
        except OSError:
            continue
        if int(process_session) == sid and state != "Z":
            pids.append(int(stat.parent.name))
    return pids


def wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def stop_and_time(demo: subprocess.Popen, signum: int, group: bool) -> float:
    """Send ``signum`` (to the whole process group, as Ctrl-C does, or to the demo only);
    return how long until no process of the demo's session was left."""
    started = time.monotonic()
    (os.killpg if group else os.kill)(demo.pid, signum)
    try:
        demo.wait(timeout=STOP_S)
        wait_for(lambda: not session(demo.pid), STOP_S - (time.monotonic() - started), "the demo's processes to end")
    finally:
        for pid in session(demo.pid):  # leave nothing behind, whatever happened
            os.kill(pid, signal.SIGKILL)
    return time.monotonic() - started


def test_ctrl_c_stops_the_demo_and_its_jobs_a_second_demo_is_refused_and_a_rerun_resumes(
    pipeline, registry_cache, tmp_path
):
    cfg, _ = pipeline
    config = small_demo_config(tmp_path / "demo.yaml", tmp_path / "out", cfg.work, registry_cache)
    demo_cfg = yaml.safe_load(config.read_text())
    demo_cfg["pretrain"]["settings"] = {
        "default": {"config": "default", "data": "joint"},
        "mono": {"config": "default", "data": "mono_{lang}", "monolingual": True},
    }
    # small batches and a short validation at each save: the demo's machinery, little compute
    demo_cfg["pretrain"].update(updates=UPDATES, overrides=[
        "checkpoint.save_interval_updates=10", "dataset.batch_size=4", "dataset.max_valid_steps=1",
    ])
    config.write_text(yaml.safe_dump(demo_cfg))
    runs = {name: tmp_path / "out" / "en-fr" / "pretrain" / name for name in ("default", "mono_en", "mono_fr")}

    first = start_demo(config, tmp_path / "first.log")
    # two jobs train at once (jobs=2): both have saved, neither has finished
    training = [runs["default"], runs["mono_en"]]
    wait_for(lambda: all((run / CHECKPOINTS / "checkpoint_last.pt").exists() for run in training), 600,
             "both jobs' first checkpoints")
    assert not any((run / DONE).exists() for run in training), "pretraining ended too soon to be interrupted"

    second = subprocess.run([sys.executable, "-m", "fairseq_ext.demo", "--config", str(config)],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert second.returncode == 1
    assert "run folders in use by another process, not started" in second.stderr
    assert str(runs["default"]) in second.stderr and "pid " in second.stderr
    assert all(sum(r["tag"] == "start" for r in read_log(run)) == 1 for run in training), "no second writer started"
    assert first.poll() is None, "the first demo went on"

    processes = session(first.pid)
    assert len(processes) >= 5, processes  # the demo, and a controller and a task per job
    seconds = stop_and_time(first, signal.SIGINT, group=True)
    print(f"SIGINT in pretraining: all {len(processes)} processes ended after {seconds:.1f} s")
    assert first.returncode == 130
    log = (tmp_path / "first.log").read_text()
    assert "[demo] interrupted (SIGINT)" in log and "rerun the same command to resume" in log
    interrupted = {name: run for name, run in runs.items() if (run / CHECKPOINTS / "checkpoint_last.pt").exists()}
    assert set(training) <= set(interrupted.values()) and not any((run / DONE).exists() for run in runs.values())

    # the rerun resumes the interrupted runs; SIGTERM to the demo alone then stops it and its jobs
    resumed_from = {name: stored_updates(run / CHECKPOINTS / "checkpoint_last.pt") for name, run in interrupted.items()}
    rerun = start_demo(config, tmp_path / "rerun.log")

    def resumed_and_saved_again(name):
        starts = [r for r in read_log(interrupted[name]) if r["tag"] == "start"]
        return len(starts) == 2 and stored_updates(interrupted[name] / CHECKPOINTS / "checkpoint_last.pt") > starts[1][
            "resume_from_update"]

    wait_for(lambda: all(resumed_and_saved_again(name) for name in resumed_from), 600, "the rerun to resume and save")
    assert rerun.poll() is None, "pretraining ended before it could be interrupted"
    for name, run in interrupted.items():
        start = [r for r in read_log(run) if r["tag"] == "start"][1]
        assert start["resume_from_update"] == resumed_from[name] >= 10, (name, start)
    processes = session(rerun.pid)
    seconds = stop_and_time(rerun, signal.SIGTERM, group=False)
    print(f"SIGTERM to the demo in pretraining: all {len(processes)} processes ended after {seconds:.1f} s")
    assert rerun.returncode == 143 and "[demo] interrupted (SIGTERM)" in (tmp_path / "rerun.log").read_text()
    assert not any((run / DONE).exists() for run in runs.values())
