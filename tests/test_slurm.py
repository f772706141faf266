"""The SLURM launcher against a real one-node SLURM cluster, brought up by
slurm/local_cluster.sh (which installs Debian's slurmctld, slurmd and munge if missing)."""

import dataclasses
import os
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

from helpers import REPO, make_data, queued_from
from slurm.cluster import queue_states, wait_until_ended
from xling.config_loader import ConfigError
from slurm.config import LaunchError, Resources, load_grid
from slurm.grid import expand_grid
from slurm.launch import launch, main
from slurm.pretrain import Placement, checkpoint_updates, compose_config, precision_overrides
from slurm.runs import CHECKPOINTS, DONE, SUBMISSION, read_json, read_log
from slurm_probe import ReplicaProbe, digest

TESTS = Path(__file__).resolve().parent
# a few seconds per update on a shared 2-core machine; a checkpoint every 10 updates
QUICK = [
    "dataset.batch_size=8", "task.tokens_per_sample=32", "model.max_positions=32",
    "common.log_interval=5", "checkpoint.save_interval_updates=10",
]


def tiny_run(setting, data, run_dir, max_update, langs=("en", "fr")):
    from slurm.runs import PretrainRun

    return PretrainRun(
        name=f"{setting}/{'-'.join(langs)}/seed1",
        config_dir=str(REPO / "configs" / "tiny"),
        config=setting,
        data=str(data),
        langs=list(langs),
        seed=1,
        run_dir=str(run_dir),
        precision=None,
        overrides=[*QUICK, f"optimization.max_update={max_update}"],
    )


def cli(capsys, *argv):
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow  # the local SLURM cluster, or a training job
def test_two_tasks_train_one_model_through_sbatch(local_slurm, bilingual_data, tmp_path, monkeypatch):
    # the job imports the probe (a PretrainJob subclass) from tests/; sbatch passes PYTHONPATH on
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])))
    run = tiny_run("sep_emb_l1_3", bilingual_data, tmp_path / "run", max_update=12)
    res = Resources(tasks_per_node=2, mem_gb=4, timeout_min=10, partition="local", cluster="slurm")
    (job,) = launch([run], res, "two-tasks", tmp_path, job=ReplicaProbe())

    sbatch_file = job.paths.submission_file.read_text()
    assert "#SBATCH --ntasks-per-node=2" in sbatch_file and "#SBATCH --partition=local" in sbatch_file
    assert "srun" in sbatch_file
    assert read_json(run.folder / SUBMISSION)["cluster"] == "slurm"
    assert wait_until_ended([job.job_id], timeout_s=300)[job.job_id] == "COMPLETED"
    ranks = job.results()
    assert sorted(r["rank"] for r in ranks) == [0, 1]
    assert all(r["world_size"] == 2 and r["backend"] == "gloo" and r["num_updates"] == 12 for r in ranks)
    saved = torch.load(run.folder / CHECKPOINTS / "checkpoint_last.pt", weights_only=True)["model"]
    assert ranks[0]["params"] == ranks[1]["params"] == digest(saved), "ranks end with one model, the saved one"

    log = read_log(run.folder)
    (start,) = [r for r in log if r["tag"] == "start"]
    assert start["world_size"] == 2 and start["resume_from_update"] == 0
    assert start["adam"] in ("apex FusedAdam", "torch AdamW(fused=True)"), start
    inner = [r for r in log if r["tag"] == "train_inner"]
    # one rank's batch holds at most 8 streams: the logged batch sums both ranks
    assert inner and all(float(r["bsz"]) > 8 for r in inner), [r["bsz"] for r in inner]
    assert {"loss_en", "loss_fr"} <= set(inner[-1])
    assert any(r["tag"] == "valid" for r in log)
    assert read_json(run.folder / DONE)["num_updates"] == 12
    assert any((run.folder / "tensorboard").rglob("events.out.tfevents.*"))


def wait_for_checkpoint(save_dir: Path, at_least: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            updates = checkpoint_updates(save_dir)
        except Exception:  # fairseq copies checkpoint_last.pt in place: it may be half written
            updates = 0
        if updates >= at_least:
            return updates
        time.sleep(0.5)
    raise TimeoutError(f"no checkpoint with {at_least} updates in {save_dir} after {timeout_s} s")


@pytest.mark.slow  # the local SLURM cluster, or a training job
def test_usr2_requeues_the_job_which_resumes_from_its_checkpoint(local_slurm, bilingual_data, tmp_path):
    run = tiny_run("sep_l1_3", bilingual_data, tmp_path / "run", max_update=80)
    res = Resources(tasks_per_node=1, mem_gb=2, timeout_min=10, signal_delay_s=90, cluster="slurm")
    (job,) = launch([run], res, "requeue", tmp_path)
    # SLURM sends the same USR2 this test sends, 90 s before the time limit
    assert "#SBATCH --signal=USR2@90" in job.paths.submission_file.read_text()

    saved = wait_for_checkpoint(run.folder / CHECKPOINTS, at_least=10, timeout_s=300)
    subprocess.run(["scancel", "--signal=USR2", job.job_id], check=True)
    assert wait_until_ended([job.job_id], timeout_s=400)[job.job_id] == "COMPLETED"

    log = read_log(run.folder)
    starts = [i for i, r in enumerate(log) if r["tag"] == "start"]
    assert [log[i]["restarts"] for i in starts] == [0, 1], "one requeue of the same job"
    assert {log[i]["job_id"] for i in starts} == {job.job_id}
    resumed = log[starts[1]]["resume_from_update"]
    assert resumed >= saved >= 10
    before = [int(r["num_updates"]) for r in log[: starts[1]] if r["tag"] == "train_inner"]
    after = [int(r["num_updates"]) for r in log[starts[1]:] if r["tag"] == "train_inner"]
    assert max(before) >= saved, "it trained up to the checkpoint before the signal"
    assert after and min(after) > resumed, "the requeued job went on from the checkpoint, not from 0"
    assert read_json(run.folder / DONE)["num_updates"] == 80


def write_grid(path: Path, data_root: Path, out_dir: Path) -> Path:
    grid = {
        "name": "grid2x2",
        "config_dir": str(REPO / "configs" / "tiny"),
        "out_dir": str(out_dir),
        "overrides": [*QUICK, "optimization.max_update=10"],
        "settings": {
            "default": {"config": "default", "data": f"{data_root}/{{pair}}/bin"},
            "sep_l1_3": {"config": "sep_l1_3", "data": f"{data_root}/{{pair}}/bin"},
        },
        "runs": [{"settings": ["default", "sep_l1_3"], "pairs": ["en-fr", "en-de"]}],
        "resources": {"tasks_per_node": 1, "mem_gb": 2, "timeout_min": 10, "cluster": "slurm"},
    }
    path.write_text(yaml.safe_dump(grid))
    return path


@pytest.mark.slow  # the local SLURM cluster, or a training job
def test_grid_becomes_one_job_array_and_reruns_submit_nothing(local_slurm, tmp_path, capsys):
    data_root = tmp_path / "data"
    for pair in ("en-fr", "en-de"):
        make_data(data_root / pair, {lang: (120, 20) for lang in pair.split("-")})
    grid_file = write_grid(tmp_path / "grid.yaml", data_root, tmp_path / "runs")
    runs = expand_grid(load_grid(grid_file), str(grid_file))

    code, out, err = cli(capsys, "grid", grid_file)
    assert code == 0, err
    assert "submitted 4 of 4 runs" in out
    job_ids = [read_json(run.folder / SUBMISSION)["job_id"] for run in runs]
    (array,) = {job_id.split("_")[0] for job_id in job_ids}
    assert sorted(job_ids) == [f"{array}_{i}" for i in range(4)], "one array of four tasks"
    for run, job_id in zip(runs, job_ids):
        assert job_id in out and run.name in out  # the table names each run and its job
        assert (run.folder / "submitit" / job_id).is_dir()
    queued = queued_from(tmp_path)
    assert set(job_ids) <= queued

    code, out, _ = cli(capsys, "grid", grid_file)
    assert code == 0 and "submitted 0 of 4 runs" in out
    # SLURM forgets ended jobs after a while: only new jobs would count
    assert not queued_from(tmp_path) - queued, "a rerun while the array runs submits nothing"

    states = wait_until_ended(job_ids, timeout_s=400)
    assert set(states.values()) == {"COMPLETED"}, states
    code, out, _ = cli(capsys, "grid", grid_file)
    assert code == 0 and "submitted 0 of 4 runs" in out
    assert not queued_from(tmp_path) - queued

    code, out, _ = cli(capsys, "status", grid_file)
    assert code == 0
    for run in runs:
        (line,) = [line for line in out.splitlines() if line.startswith(run.name)]
        langs = run.name.split("/")[1].split("-")
        assert " DONE " in line and " 10 " in line and all(f"{lang} " in line for lang in langs), line
    assert all(read_json(run.folder / DONE)["num_updates"] == 10 for run in runs)


@pytest.mark.slow  # the local SLURM cluster, or a training job
def test_bad_options_fail_before_submission(local_slurm, bilingual_data, tmp_path, capsys):
    queued = queued_from(tmp_path)
    base = ["pretrain", "--data", bilingual_data, "--langs", "en,fr", "--out-dir", tmp_path, "--cluster", "slurm"]
    cases = {
        "--nodes is 0": ["--setting", "default", "--nodes", "0"],
        f"{os.cpu_count() + 1} CPUs per node, but a node of partition local has {os.cpu_count()}": [
            "--setting", "default", "--tasks-per-node", os.cpu_count() + 1,
        ],
        "unknown setting 'sep_l1_9'": ["--setting", "sep_l1_9"],
        "--partition gpu: SLURM has no such partition (partitions: local)": [
            "--setting", "default", "--partition", "gpu",
        ],
        "precision fp16 (asked for) needs GPUs": ["--setting", "default", "--fp16"],
        "override 'checkpoint.save_dir=x' is set by the launcher": ["--setting", "default", "checkpoint.save_dir=x"],
        "needs regular saves; checkpoint.save_interval_updates=0": [
            "--setting", "default", "checkpoint.save_interval_updates=0",
        ],
    }
    for message, argv in cases.items():
        code, out, err = cli(capsys, *base, *argv)
        assert code == 2 and message in err, (argv, err)
    _, _, err = cli(capsys, *base, "--setting", "sep_l1_9")
    assert "default, sep_emb, sep_emb_l1_3" in err, "the error lists the settings there are"

    grid_file = write_grid(tmp_path / "grid.yaml", tmp_path / "data", tmp_path / "runs")
    grid = yaml.safe_load(grid_file.read_text())
    grid["runs"][0]["settings"].append("sep_l2_4")
    grid_file.write_text(yaml.safe_dump(grid))
    code, _, err = cli(capsys, "grid", grid_file)
    assert code == 2 and "runs[0].settings: unknown setting(s) sep_l2_4" in err and str(grid_file) in err
    grid["runs"][0]["settings"].pop()
    grid_file.write_text(yaml.safe_dump(grid))
    code, _, err = cli(capsys, "grid", grid_file, "resources.nodes=0")
    assert code == 2 and "--nodes is 0" in err
    code, _, err = cli(capsys, "grid", grid_file)
    assert code == 2 and f"data folder {tmp_path}/data/en-fr/bin does not exist" in err

    assert not queued_from(tmp_path) - queued, "nothing was submitted"
    assert not list(tmp_path.rglob(SUBMISSION)) and not (tmp_path / "runs").exists()


@pytest.mark.slow  # the local SLURM cluster, or a training job
def test_without_slurm_the_local_executor_runs_the_same_job(bilingual_data, tmp_path, capsys, monkeypatch):
    no_slurm = tmp_path / "bin"
    no_slurm.mkdir()
    monkeypatch.setenv("PATH", str(no_slurm))  # no scontrol: the launcher cannot reach a cluster
    code, out, err = cli(
        capsys, "pretrain", "--setting", "sep_emb_l1_3", "--data", bilingual_data, "--langs", "en,fr",
        "--out-dir", tmp_path, "--tasks-per-node", 2, *QUICK, "optimization.max_update=6",
    )
    assert code == 0, err
    run_dir = tmp_path / "sep_emb_l1_3" / "en-fr" / "seed1"
    assert read_json(run_dir / SUBMISSION)["cluster"] == "local"
    (start,) = [r for r in read_log(run_dir) if r["tag"] == "start"]
    assert start["world_size"] == 2 and start["backend"] == "gloo"
    assert read_json(run_dir / DONE)["num_updates"] == 6
    assert " DONE " in out


@pytest.mark.parametrize("scale", ["paper", "tiny"])
def test_shipped_grids_expand_to_the_paper_grid(scale):
    grid_file = REPO / "configs" / "grid" / f"{scale}.yaml"
    grid = load_grid(grid_file)
    runs = {run.name: run for run in expand_grid(grid, str(grid_file))}
    table1 = [name for name in runs if name.split("/")[1] in ("en-fr", "en-ru", "en-zh")]
    assert len({name.split("/")[0] for name in table1}) == 10 and len(table1) == 10 * 3 * len(grid.seeds)
    mono = {run.langs[0] for run in runs.values() if len(run.langs) == 1}
    assert mono == ({"en", "fr", "de", "ru", "zh"} if scale == "paper" else {"en", "fr", "ru", "zh"})
    assert "mono/en/seed2" in runs, "Fig. 7's en': English with another seed"
    for run in runs.values():
        assert (Path(run.config_dir) / f"{run.config}.yaml").is_file(), run.name
        assert run.run_dir.endswith(run.name)
    # the rows that differ by data only train the Default model, each on its own data
    rows = ("default", "wiki_cc", "no_anchors", "default_anchors", "extra_anchors")
    by_data = [runs[f"{row}/en-ru/seed1"] for row in rows]
    assert {run.config for run in by_data} == {"default"} and len({run.data for run in by_data}) == 5
    assert runs["sep_emb_l1_6/en-zh/seed1"].data.endswith("_en_zh/bin/union")
    assert runs["mono/ru/seed1"].data.endswith("_en_ru/bin/mono_ru")


def test_a_misspelt_grid_key_is_named(tmp_path):
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text("name: g\nconfig_dir: configs/tiny\nout_dir: x\nsetings: {}\n")
    with pytest.raises(ConfigError, match=f"{grid_file}: unknown option setings") as error:
        load_grid(grid_file)
    assert error.value.key == "setings"
    with pytest.raises(ConfigError, match=r"override 'resources\.nodes=two': resources\.nodes"):
        load_grid(REPO / "configs/grid/tiny.yaml", ["resources.nodes=two"])


@pytest.mark.parametrize("gpus_seen", [1, 8])
def test_gpu_tasks_get_explicit_placement_and_mixed_precision_flags(bilingual_data, tmp_path, monkeypatch, gpus_seen):
    """What a GPU task hands fairseq (checked on the composed config; no GPU needed):
    its rank, the world size, a tcp rendezvous, NCCL, and its device, whether SLURM shows
    the task its own GPU or the node's eight."""
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus_seen)
    place = Placement(rank=13, world_size=16, local_rank=5, master="node1:29500", cuda=True)
    run = dataclasses.replace(tiny_run("sep_emb_l1_3", bilingual_data, tmp_path, 10), cuda=True)
    expected = {"fp32": (False, False), "fp16": (True, False), "bf16": (False, True)}
    for precision, (fp16, bf16) in expected.items():
        cfg = compose_config(run, [*precision_overrides(precision, cuda=True)[0], *place.overrides()])
        # fairseq's --fp16 / --bf16 (with fp32 master weights), never its --amp
        assert (cfg.common.fp16, cfg.common.bf16, cfg.common.amp, cfg.common.cpu) == (fp16, bf16, False, False)
        dist = cfg.distributed_training
        assert (dist.distributed_world_size, dist.distributed_rank, dist.device_id) == (16, 13, 5 % gpus_seen)
        assert dist.distributed_init_method == "tcp://node1:29500" and dist.distributed_backend == "nccl"
        assert dist.distributed_no_spawn


@pytest.mark.parametrize("amx, avx512_bf16, expected", [
    (True, True, "bf16"), (False, True, "bf16"), (False, False, "fp32"),
])
def test_auto_precision_is_bf16_only_on_cpus_that_compute_it(monkeypatch, amx, avx512_bf16, expected):
    """``auto`` is decided in the job, for the CPU it runs on, and the run log says why."""
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    flags, mode = precision_overrides("auto", cuda=False)
    assert f"common.bf16={str(expected == 'bf16').lower()}" in flags and "common.fp16=false" in flags
    assert "auto: this CPU" in mode and (("AMX-BF16" if amx else "AVX512-BF16") in mode or expected == "fp32")
    if expected == "fp32":
        assert flags == precision_overrides("fp32", cuda=False)[0]


def test_xling_adam_is_fairseqs_adam_on_one_flat_tensor():
    """The launcher trains with xling_adam (torch's fused AdamW without apex) where a
    config names adam: 20 steps on one flat tensor, as fp16 training hands it over."""
    from fairseq.optim.adam import FairseqAdam, FairseqAdamConfig

    from fairseq_ext.fused_adam import XlingAdam

    cfg = FairseqAdamConfig(lr=[1e-3], adam_betas="(0.9,0.98)", adam_eps=1e-6, weight_decay=0.01, tpu=False)
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(1000, generator=generator)
    grads = [torch.randn(1000, generator=generator) for _ in range(20)]
    ends = []
    for optimizer_class in (FairseqAdam, XlingAdam):
        param = torch.nn.Parameter(start.clone())
        optimizer = optimizer_class(cfg, [param])
        for grad in grads:
            param.grad = grad.clone()
            optimizer.step()
        ends.append(param.detach())
    assert optimizer.supports_flat_params
    assert (ends[1] - start).abs().max() > 0.01, "it trained"
    torch.testing.assert_close(ends[1], ends[0], rtol=0, atol=1e-5)


def test_status_progress_reads_end_of_epoch_records_when_a_run_is_shorter_than_its_log_interval(tmp_path):
    import json

    from slurm.runs import TRAIN_LOG, progress

    def write(*records):
        (tmp_path / TRAIN_LOG).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    start = {"tag": "start"}
    # 40 updates with log_interval 50: fairseq writes only the end-of-epoch record
    epoch_end = {"tag": "train", "epoch": 1, "train_loss_en": "9.5", "train_loss_fr": "9.8", "train_num_updates": "40"}
    write(start, epoch_end, {"tag": "valid", "valid_loss_en": "9.9", "valid_num_updates": "40"})
    assert progress(tmp_path, ["en", "fr"]) == {"updates": 40, "attempts": 1, "losses": {"en": 9.5, "fr": 9.8}}
    # the latest record wins, whichever kind it is; a second attempt is counted
    inner = {"tag": "train_inner", "loss_en": "8.1", "loss_fr": "8.4", "num_updates": "50"}
    write(start, epoch_end, start, inner)
    assert progress(tmp_path, ["en", "fr"]) == {"updates": 50, "attempts": 2, "losses": {"en": 8.1, "fr": 8.4}}
    write()
    assert progress(tmp_path, ["en"]) == {"updates": 0, "attempts": 0, "losses": {}}


@pytest.mark.parametrize("cpus", [1, 2])
def test_a_local_job_uses_as_many_threads_as_cpus_per_task(tmp_path, cpus, monkeypatch):
    """Without this, each local job takes every core and two runs side by side crawl."""
    from slurm.cluster import make_executor

    def thread_settings():  # defined here: cloudpickle ships it by value (tests/ is not importable there)
        import os
        import torch

        return os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()

    # a value of the caller's is replaced; monkeypatch restores both variables afterwards
    # (make_executor sets them in this process, for the local job to inherit)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.setenv("MKL_NUM_THREADS", "7")
    executor = make_executor(tmp_path / "%j", Resources(cpus_per_task=cpus), "local", "threads")
    assert executor.submit(thread_settings).result() == (str(cpus), cpus)


def fake_slurm(bin_dir: Path, squeue: str) -> None:
    """An scontrol whose controller answers, and an squeue that runs ``squeue`` (a shell body)."""
    bin_dir.mkdir()
    for name, body in {"scontrol": 'echo "Slurmctld(primary) at node is UP"', "squeue": squeue}.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)


def test_a_silent_or_failing_controller_is_not_taken_for_an_empty_queue(tmp_path, monkeypatch):
    # no SLURM on the PATH: nothing is queued, unless a caller needs the controller
    monkeypatch.setenv("PATH", str(tmp_path))
    assert queue_states() == {}
    with pytest.raises(LaunchError, match="no SLURM controller answers"):
        queue_states(controller_required=True, attempts=1)
    # a controller that answers the ping but times out on squeue: an error, never {}
    fake_slurm(tmp_path / "failing", 'echo "slurm_load_jobs error: Socket timed out" >&2; exit 1')
    monkeypatch.setenv("PATH", f"{tmp_path / 'failing'}:/usr/bin:/bin")
    for required in (False, True):
        with pytest.raises(LaunchError, match="squeue failed: slurm_load_jobs error: Socket timed out"):
            queue_states(controller_required=required, attempts=1)
    with pytest.raises(TimeoutError, match="UNKNOWN"):  # a wait goes on: the jobs have not ended for that
        wait_until_ended(["12_1"], timeout_s=0.1, poll_s=0.1)
    # one timeout, then an answer: the retry reads the queue
    counter = tmp_path / "calls"
    fake_slurm(tmp_path / "flaky", f'echo x >> {counter}; [ $(wc -l < {counter}) -ge 2 ] || exit 1\n'
                                   'echo "12_1|RUNNING"; echo "13|PENDING"')
    monkeypatch.setenv("PATH", f"{tmp_path / 'flaky'}:/usr/bin:/bin")
    assert queue_states(controller_required=True, attempts=2) == {"12_1": "RUNNING", "13": "PENDING"}
