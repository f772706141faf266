"""``python -m slurm.launch study``: a study file's jobs on the real one-node SLURM cluster
(slurm/local_cluster.sh), chained by dependencies, resumed after a kill, never submitted
twice; and the same study's checks and failures without SLURM."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers import REPO, queued_from
from registry_slice import SMALL
from slurm.cluster import ACTIVE_STATES, queue_states, wait_until_ended
from slurm.config import LaunchError
from xling.config_loader import ConfigError
from slurm.launch import main
from slurm.pretrain import checkpoint_updates
from slurm.runs import CHECKPOINTS, DONE, SUBMISSION, read_json, read_log
from slurm.study import load_study, plan, study_lock

TINY = REPO / "configs" / "study" / "tiny.yaml"


def study_file(path: Path, out: Path, data_dir: Path, cache: Path, **changes) -> Path:
    """configs/study/tiny.yaml on the registry slice with Default and the two monolingual
    models only. ``data_dir``: the slice the pipeline tests built (with data_tasks=1 its data
    jobs find every stage done), or a new folder."""
    cfg = yaml.safe_load(TINY.read_text(encoding="utf-8"))
    cfg.update(out_dir=str(out), data_dir=str(data_dir), data={**SMALL, "fetch": {"cache_dir": str(cache)}})
    del cfg["pretrain"]["settings"]["sep_emb_l1_6"]
    # Default trains long enough to be killed mid-way, the monolingual models briefly
    cfg["pretrain"]["updates"] = 400
    cfg["pretrain"]["settings"]["mono"]["update_share"] = 0.075
    for key, value in changes.items():
        section, _, name = key.rpartition(".")
        (cfg[section] if section else cfg)[name] = value
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def launch_cli(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "slurm.launch", *map(str, argv)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def cli(capsys, *argv) -> subprocess.CompletedProcess:
    """``python -m slurm.launch`` in this process (it has imported fairseq already)."""
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, captured.out, captured.err)


def submitted_ids(jobs) -> dict:
    return {job.key: (read_json(job.folder / SUBMISSION) or {}).get("job_id") for job in jobs}


def wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError(f"{what}: not after {timeout_s} s")


def checkpoint_at(save_dir: Path) -> int:
    try:
        return checkpoint_updates(save_dir)
    except Exception:  # half written: fairseq copies checkpoint_last.pt in place
        return 0


@pytest.mark.slow  # the local SLURM cluster and four short trainings
def test_a_study_runs_as_dependent_jobs_resumes_after_a_kill_and_reruns_submit_nothing_twice(
        local_slurm, pipeline, registry_cache, tmp_path, capsys):  # pipeline: the registry packages fetched
    # the corpus pipeline runs in its jobs, as two array tasks, into a folder of its own
    path = study_file(tmp_path / "study.yaml", tmp_path / "out", tmp_path / "data", registry_cache, cluster="slurm",
                      **{"data.outputs": ["joint", "mono"]})
    cfg = load_study(path)
    assert cfg.data_tasks == 2
    jobs = plan(cfg)
    by_key = {job.key: job for job in jobs}
    model = by_key["pretrain/en-fr/default"]

    first = cli(capsys, "study", path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"submitted {len(jobs)} jobs" in first.stdout, first.stdout
    ids = submitted_ids(jobs)
    assert all(ids.values()) and len(set(ids.values())) == len(jobs), ids
    # each array waits for what its jobs need, as its sbatch file says
    for job in jobs:
        assert (job.folder / "submitit" / ids[job.key]).is_dir()  # its logs, linked from its folder
        array = ids[job.key].split("_")[0]
        text = (cfg.folder / ".submitit" / array / f"{array}_submission.sh").read_text()
        needed = sorted({ids[n] for n in job.needs})
        if needed:
            assert f"#SBATCH --dependency=afterok:{':'.join(needed)}" in text, (job.key, text)
            assert "#SBATCH --kill-on-invalid-dep=yes" in text
        else:
            assert "--dependency" not in text
    for phase in ("text", "encode"):  # each phase's two tasks are one array
        assert len({ids[f"data/en-fr/{phase}/{t}of2"].split("_")[0] for t in (1, 2)}) == 1

    # kill the Default model mid-way; what needs it still waits in the queue
    wait_for(lambda: checkpoint_at(model.folder / CHECKPOINTS) >= 20, 400, "a checkpoint of Default")
    subprocess.run(["scancel", ids[model.key]], check=True)
    wait_for(lambda: queue_states(controller_required=True).get(ids[model.key], "ENDED") not in ACTIVE_STATES,
             60, "Default to end")
    assert not model.done
    status = cli(capsys, "status", path)
    rows = {line.split()[1]: line for line in status.stdout.splitlines() if line.split()[:1] == ["pretrain"]}
    log = rows["en-fr/default"].split("log: ")[1].strip()  # the job that ended names its log, in its folder
    assert log.startswith(str(model.folder)) and Path(log).is_file(), rows
    dependents = ["transfer/en-fr", "analysis/en-fr", "report"]

    # two reruns racing: the missing jobs are submitted once, by one of them
    before = queued_from(tmp_path)
    racers = [subprocess.Popen([sys.executable, "-m", "slurm.launch", "study", str(path)], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [racer.communicate(timeout=300) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), outputs
    said = sorted(out.splitlines()[0] for out, _ in outputs)
    assert said == ["nothing to submit: every job is finished or queued", "submitted 4 jobs"], said
    resubmitted = submitted_ids(jobs)
    changed = {k for k in ids if resubmitted[k] != ids[k]}
    assert changed == {model.key, *dependents}, changed
    assert queued_from(tmp_path) - before == {resubmitted[k] for k in changed}, "each missing job once"
    # the old dependents, which waited for the killed job, were cancelled by the rerun
    assert all(queue_states(controller_required=True).get(ids[k], "ENDED") not in ACTIVE_STATES for k in dependents)
    assert all(read_json(by_key[k].folder / SUBMISSION)["attempts"] == 2 for k in changed)

    states = wait_until_ended([resubmitted[k] for k in changed], timeout_s=600)
    assert set(states.values()) <= {"COMPLETED", "ENDED"}, states
    logs = {job.key: Path(read_json(job.folder / SUBMISSION)["log"]) for job in jobs if not job.done}
    assert not logs, (states, {key: log.read_text()[-1500:] if log.is_file() else log for key, log in logs.items()})
    starts = [r for r in read_log(model.folder) if r["tag"] == "start"]
    assert len(starts) == 2 and starts[1]["resume_from_update"] >= 20, starts
    assert read_json(model.folder / DONE)["num_updates"] == 400

    # every job started after what it needs had finished
    done = {job.key: read_json(job.folder / DONE) for job in jobs}
    for job in jobs:
        for need in job.needs:
            assert done[job.key]["started"] >= done[need]["finished"], (job.key, need)
    # SLURM's own record of the jobs that ended (no slurmdbd here: the completion log)
    sacct = subprocess.run(["sacct", "--completion", "-n", "-P", "-o", "jobid,jobname,state,start,end"],
                           capture_output=True, text=True)
    assert sacct.returncode == 0, sacct.stderr
    for key in changed:
        (line,) = [l for l in sacct.stdout.splitlines() if l.startswith(resubmitted[key] + "|")]
        assert "|COMPLETED|" in line and f"{cfg.name}-{by_key[key].stage}" in line, line

    report = json.loads((cfg.out / "claims.json").read_text(encoding="utf-8"))
    assert report, "the report's claims"
    status = cli(capsys, "status", path)
    rows = [line for line in status.stdout.splitlines() if line.split()[:1] and line.split()[0] in
            ("data", "pretrain", "transfer", "analysis", "report")]
    assert len(rows) == len(jobs) and all(" DONE " in row for row in rows), status.stdout
    assert any("400/400 updates" in row and "loss en" in row for row in rows), status.stdout

    queued = queued_from(tmp_path)
    again = cli(capsys, "study", path)
    assert again.returncode == 0 and "nothing to submit" in again.stdout, again.stdout + again.stderr
    assert not queued_from(tmp_path) - queued


@pytest.mark.slow  # the corpus pipeline's slice and a failing training on this machine
def test_without_slurm_a_failing_job_is_named_with_its_log_and_stops_the_study(pipeline, registry_cache, tmp_path):
    data_cfg, _ = pipeline
    # a training that fails once it runs: fairseq cannot batch samples longer than its positions
    path = study_file(tmp_path / "study.yaml", tmp_path / "out", data_cfg.work, registry_cache, cluster="local",
                      data_tasks=1, **{"pretrain.overrides": ["checkpoint.save_interval_updates=20", "model.max_positions=8"]})
    result = launch_cli("study", path)
    assert result.returncode == 1
    (said,) = [line for line in result.stderr.splitlines() if line.startswith("error: pretrain/en-fr/")]
    log = result.stderr.split("its log: ")[1].split()[0]
    assert Path(log).is_file() and said.split(" failed: ")[1] in Path(log).read_text(), said  # the job's own error
    jobs = {job.key: job for job in plan(load_study(path))}
    assert jobs["data/en-fr"].done and not jobs["report"].done


def test_a_study_file_is_checked_before_anything_runs(tmp_path):
    base = yaml.safe_load(TINY.read_text(encoding="utf-8"))
    cases = {
        "unknown option resources.pretrain.gpus": {"resources": {"pretrain": {"gpus": 1}}},
        "resources.transfer: one node and one task": {"resources": {"transfer": {"tasks_per_node": 2}}},
        "resources.data.cluster: give the study's cluster at the top": {"resources": {"data": {"cluster": "local"}}},
        "data_config for en-fr": {"data_config": str(tmp_path / "missing_{lang1}_{lang2}.yaml")},
        "is not en-<lang>": {"pairs": ["fr-de"]},
        "data_tasks: 0 must be at least 1": {"data_tasks": 0},
    }
    for message, change in cases.items():
        cfg = json.loads(json.dumps(base))
        for key, value in change.items():
            cfg[key] = {**cfg[key], **value} if isinstance(value, dict) else value
        path = tmp_path / "study.yaml"
        path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
        with pytest.raises(ConfigError, match=message):  # a LaunchError, or the loader's own
            load_study(path)
    assert load_study(TINY).name == "xling-tiny"  # the shipped file itself is valid


def test_the_jobs_wait_for_what_they_need_and_the_report_for_everything(tmp_path):
    cfg = load_study(TINY, [f"out_dir={tmp_path}", "pairs=[en-fr,en-ru]", "data_tasks=3"])
    jobs = plan(cfg)
    keys = [job.key for job in jobs]
    assert len(keys) == len(set(keys))
    for job in jobs:
        assert all(keys.index(need) < keys.index(job.key) for need in job.needs), job.key  # plan order is run order
    by_key = {job.key: job for job in jobs}
    assert by_key["pretrain/en-ru/mono_ru"].needs == ["data/en-ru"]
    # the corpus pipeline: text tasks, then the corpus job, then encode tasks, then the data folders
    text = [f"data/en-fr/text/{t}of3" for t in (1, 2, 3)]
    encode = [f"data/en-fr/encode/{t}of3" for t in (1, 2, 3)]
    assert all(by_key[k].needs == [] and by_key[k].phase == "text" for k in text)
    assert [by_key[k].task for k in text] == [by_key[k].task for k in encode] == [0, 1, 2]
    assert by_key["data/en-fr/corpus"].needs == text
    assert all(by_key[k].needs == ["data/en-fr/corpus"] and by_key[k].phase == "encode" for k in encode)
    assert by_key["data/en-fr"].needs == encode and by_key["data/en-fr"].phase == "data"
    assert len({by_key[k].folder for k in text + encode + ["data/en-fr/corpus", "data/en-fr"]}) == 8
    assert by_key["transfer/en-fr"].needs == ["pretrain/en-fr/default", "pretrain/en-fr/sep_emb_l1_6"]
    assert set(by_key["analysis/en-ru"].needs) == {f"pretrain/en-ru/{m}" for m in ("default", "sep_emb_l1_6", "mono_en", "mono_ru")}
    assert set(by_key["report"].needs) == {f"{s}/{p}" for s in ("transfer", "analysis") for p in ("en-fr", "en-ru")}
    assert by_key["pretrain/en-fr/default"].run.precision == "auto"  # decided in the job, on its node


def test_a_second_local_run_of_the_same_study_is_refused(tmp_path):
    cfg = load_study(TINY, [f"out_dir={tmp_path}"])
    with study_lock(cfg, wait=False):
        with pytest.raises(LaunchError, match="is being run by another process"):
            with study_lock(cfg, wait=False):
                pass
    with study_lock(cfg, wait=False):  # released
        pass
