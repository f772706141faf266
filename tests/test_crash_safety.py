"""What a killed, interrupted or full-disk run leaves behind, and that a rerun resumes from it:
checkpoints under SIGKILL at random moments, a damaged checkpoint_last.pt, a full disk
during a save and during binarization, and one live writer per run folder."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import sentencepiece as spm

from xling import run_lock
from fairseq_ext.checkpoints import resume_point, stored_updates
from helpers import REPO, tiny_train_args, train
from preprocess.binarize import DataFolder, build_data_folder
from preprocess.stage import Stage, output_record, run_stage
from slurm.config import LaunchError, Resources
from slurm.launch import main as launch_main
from slurm.runs import CHECKPOINTS, DONE, PretrainRun, read_json, read_log
from slurm.submit import prepare_run

pytestmark = pytest.mark.slow  # runs killed at random moments: make test runs it, make test-fast does not

TESTS = Path(__file__).resolve().parent
KILLS = 12


def test_a_run_killed_at_random_moments_ends_as_an_uninterrupted_run(bilingual_data, tmp_path):
    """fairseq-train killed 12 times with SIGKILL (8 times inside a save: mid-write of the
    file, mid-copy to checkpoint_last/best, around a rename; 4 times at a random moment),
    each time rerun as it was. See kill_probe.py."""
    probe = subprocess.run(
        [sys.executable, str(TESTS / "kill_probe.py"), str(bilingual_data), str(tmp_path), str(KILLS), "3"],
        capture_output=True, text=True, timeout=900,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert not report["failures"], f"a rerun after a kill failed: {report['failures'][0]}"
    assert sum(report["kills"].values()) == KILLS and set(report["kills"]) == {"write", "copy", "rename", "timer"}
    attempts = report["attempts"]
    assert all(a["exit"] == -9 for a in attempts[:-1]) and attempts[-1]["exit"] == 0, attempts
    assert report["final_updates"] == 24 and report["same_keys"]
    assert report["max_difference"] <= 1e-6, report["max_difference"]


# ------------------------------------------------------------------ a damaged checkpoint_last.pt


def launcher(capsys, data, out_dir, max_update):
    code = launch_main([
        "pretrain", "--setting", "sep_l1_3", "--data", str(data), "--langs", "en,fr", "--out-dir", str(out_dir),
        "dataset.batch_size=8", "task.tokens_per_sample=32", "model.max_positions=32",
        "checkpoint.save_interval_updates=2", f"optimization.max_update={max_update}",
    ])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return out_dir / "sep_l1_3" / "en-fr" / "seed1"


def test_a_truncated_checkpoint_last_resumes_from_the_newest_intact_checkpoint(
    bilingual_data, tmp_path, capsys, monkeypatch
):
    no_slurm = tmp_path / "bin"
    no_slurm.mkdir()
    monkeypatch.setenv("PATH", str(no_slurm))  # the local executor: the same job as on SLURM
    run_dir = launcher(capsys, bilingual_data, tmp_path, max_update=4)
    last = run_dir / CHECKPOINTS / "checkpoint_last.pt"
    # as a kill during fairseq's in-place copy left it; the run had not finished
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    (run_dir / DONE).unlink()

    run_dir = launcher(capsys, bilingual_data, tmp_path, max_update=8)
    starts = [r for r in read_log(run_dir) if r["tag"] == "start"]
    assert [s["resume_from_update"] for s in starts] == [0, 4], "one save interval at most is lost (here none)"
    fallback = starts[1]["resume_fallback"]
    assert fallback["unreadable"] == "checkpoint_last.pt" and "PytorchStreamReader" in fallback["error"]
    assert fallback["resumed_from"] in ("checkpoint_1_4.pt", "checkpoint_best.pt")
    job_logs = "".join(p.read_text() for p in (run_dir / "submitit").glob("*_log.*"))
    assert "checkpoint_last.pt is unreadable" in job_logs and "resuming from" in job_logs
    assert read_json(run_dir / DONE)["num_updates"] == 8 and stored_updates(last) == 8
    # nothing left to fall back on: an error that says what to do, not a silent restart
    for checkpoint in (run_dir / CHECKPOINTS).glob("checkpoint*.pt"):
        checkpoint.write_bytes(b"cut")
    with pytest.raises(RuntimeError, match=r"checkpoint_last.pt is unreadable .* holds no other checkpoint that loads"):
        resume_point(run_dir / CHECKPOINTS)


# ------------------------------------------------------------------ a full disk


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MB tmpfs (the tests run as root), unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)], check=True)
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def fill(disk: Path, leave_bytes: int) -> Path:
    """Take all of ``disk``'s free space but ``leave_bytes``."""
    stat = os.statvfs(disk)
    filler = disk / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * (stat.f_bavail * stat.f_frsize - leave_bytes))
    return filler


def test_a_full_disk_during_a_save_keeps_the_previous_checkpoints(bilingual_data, small_disk):
    save_dir = small_disk / "checkpoints"
    args = ["--save-interval-updates", "4"]
    train(tiny_train_args(bilingual_data, save_dir, "en,fr", 4, args))
    before = {p.name: p.read_bytes() for p in save_dir.iterdir()}
    fill(small_disk, 1 << 20)  # a checkpoint takes 5 MB

    with pytest.raises(OSError, match=rf"No space left on device: '{save_dir}/checkpoint_1_8.pt'"):
        train(tiny_train_args(bilingual_data, save_dir, "en,fr", 8, args))
    assert {p.name: p.read_bytes() for p in save_dir.iterdir()} == before, "no partial file, nothing changed"
    assert resume_point(save_dir).updates == 4, "a rerun (with room again) resumes from the last save"


def test_a_full_disk_during_binarization_keeps_the_previous_data_folder(tmp_path, small_disk):
    rng = random.Random(0)
    texts, words = {}, {lang: [f"{lang}w{i}" for i in range(300)] for lang in ("en", "fr")}
    for lang in words:
        texts[lang] = {}
        for split, lines in (("train", 3000), ("valid", 100), ("test", 100)):
            path = tmp_path / f"{lang}.{split}"
            path.write_text("".join(" ".join(rng.choices(words[lang], k=12)) + "\n" for _ in range(lines)))
            texts[lang][split] = path
    spm.SentencePieceTrainer.train(input=str(texts["en"]["train"]), model_prefix=str(tmp_path / "spm"),
                                   vocab_size=200, model_type="bpe", minloglevel=2)
    model = tmp_path / "spm.model"
    folder = DataFolder("joint", ["en", "fr"], {"en": model, "fr": model}, texts, {"en": "", "fr": ""})
    out = small_disk / "bin" / "joint"
    stage = Stage("binarize/joint", [out], lambda tmp: build_data_folder(folder, tmp, 1, 500), inputs=[model])
    run_stage(stage)
    before = output_record(out)
    filler = fill(small_disk, 64 << 10)

    with pytest.raises(OSError, match=rf"No space left on device: '{out}.tmp/"):
        run_stage(stage, force=True)
    assert output_record(out) == before and not Path(f"{out}.tmp").exists()
    filler.unlink()
    assert not run_stage(stage)["ran"], "the previous output and its manifest still stand"


# ------------------------------------------------------------------ one writer per run folder


def hold_lock(folder: Path) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from xling import run_lock; "
         f"lock = run_lock.acquire({str(folder)!r}, 'job7'); print('held', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_busy_run_folder_is_refused_and_a_dead_writers_lock_is_taken_over(bilingual_data, tmp_path, caplog):
    run = PretrainRun(name="default/en-fr/seed1", config_dir=str(REPO / "configs" / "tiny"), config="default",
                      data=str(bilingual_data), langs=["en", "fr"], seed=1, run_dir=str(tmp_path / "run"),
                      precision=None)
    holder = hold_lock(run.folder)
    try:
        owner = run_lock.holder(run.folder)
        assert owner["pid"] == holder.pid and owner["job_id"] == "job7" and owner["host"] == os.uname().nodename
        with pytest.raises(run_lock.RunFolderBusy, match=rf"{run.folder} is being written by pid {holder.pid} .*job job7"):
            run_lock.acquire(run.folder)
        with pytest.raises(LaunchError, match=rf"is being written by pid {holder.pid}"):
            prepare_run(run, Resources(cluster="local"))
    finally:
        holder.kill()
        holder.wait()
    assert run_lock.holder(run.folder) is None, "the kernel released the dead writer's lock"
    with run_lock.acquire(run.folder, "job8") as lock:
        assert lock.took_over["pid"] == holder.pid
    assert f"took over the stale lock of pid {holder.pid}" in caplog.text
    with run_lock.acquire(run.folder) as lock:
        assert lock.took_over is None, "a clean end leaves nothing to take over"
    assert prepare_run(run, Resources(cluster="local")).name == run.name
