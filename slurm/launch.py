"""Command line: ``python -m slurm.launch {study,pretrain,grid,status}`` (run from the repo root).

- ``study``: the whole study of a study file (``configs/study/*.yaml``): corpora, models,
  transfer, analysis and the report, as SLURM jobs chained by what they need (see
  ``slurm.study``); without SLURM it runs them on this machine. Rerunning it submits only
  what is missing or failed.
- ``pretrain``: one run, a setting's config on a data folder, with the job's resources.
- ``grid``: every run of a grid file that is neither finished nor held by SLURM, as one
  job array; then a table of job ids and states. Rerunning it submits only what is left.
- ``status``: of a study file, one table of every job (stage, state, attempts, progress,
  last metric, the log of one that failed); of a grid file, state, attempts, updates and
  the last training loss per language of each run.

Bad options fail before anything is submitted, with a message that names them. Ctrl-C or
SIGTERM stops a run on this machine (the local executor) and its job; rerunning the
command resumes it. Jobs on SLURM are the cluster's and go on.

``status`` only reads the runs' files and the queue; a grid's imports neither fairseq nor
torch (a study's plans its jobs with the demo's code, which does).
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Sequence

from xling import logs
from xling.config_loader import ConfigError
from slurm.config import PRECISIONS, Resources, add_resource_options, load_grid, resources_from_options


def launch(runs: List, res: Resources, job_name: str, array_dir: Path, dry_run=False, wait=False, job=None):
    """Check, then submit the runs (:class:`slurm.runs.PretrainRun`) that need it; returns their submitit jobs."""
    from slurm.cluster import check_resources, choose_cluster, node_size, queue_states, wait_until_ended
    from slurm.submit import pending, prepare_run, submit_runs

    cluster = choose_cluster(res.cluster)
    check_resources(res, node_size(cluster, res.partition), cluster)
    todo = [prepare_run(run, res) for run in pending(runs, queue_states(controller_required=cluster == "slurm"))]
    if dry_run or not todo:
        return []
    jobs = submit_runs(todo, res, cluster, job_name, array_dir, job)
    if wait and cluster == "slurm":
        wait_until_ended([submitted.job_id for submitted in jobs], timeout_s=float("inf"))
    return jobs


def status_rows(runs: Sequence) -> List[list]:
    from slurm.cluster import queue_states
    from slurm.runs import progress, run_state

    queue = queue_states()
    rows = []
    for run in runs:
        state, job_id = run_state(run.folder, queue)
        logged = progress(run.folder, run.langs)
        losses = " ".join(f"{lang} {loss:.3f}" for lang, loss in logged["losses"].items())
        rows.append([run.name, job_id, state, logged["attempts"], logged["updates"], losses])
    return rows


def print_status(runs: Sequence) -> None:
    from tabulate import tabulate

    headers = ["run", "job", "state", "attempts", "updates", "last loss"]
    print(tabulate(status_rows(runs), headers=headers, tablefmt="simple"))


def grid_runs(grid_file: str, overrides: Sequence[str]):
    from slurm.grid import expand_grid

    grid = load_grid(grid_file, overrides)
    return grid, expand_grid(grid, grid_file)


def pretrain_command(args) -> None:
    from slurm.runs import PretrainRun

    langs = args.langs.split(",")
    name = f"{args.setting}/{'-'.join(langs)}/seed{args.seed}"
    run = PretrainRun(
        name=name,
        config_dir=str(Path(args.config_dir).resolve()),
        config=args.setting,
        data=str(Path(args.data).resolve()),
        langs=langs,
        seed=args.seed,
        run_dir=str(Path(args.out_dir).resolve() / name),
        precision=args.precision,
        overrides=args.overrides,
    )
    submitted = launch([run], resources_from_options(args), name, Path(args.out_dir), wait=args.wait)
    print(f"submitted {len(submitted)} run" if submitted else f"{name}: finished or queued already; nothing submitted")
    print_status([run])


def grid_command(args) -> None:
    from slurm.cluster import queue_states
    from slurm.submit import pending

    grid, runs = grid_runs(args.grid_file, args.overrides)
    submitted = launch(runs, grid.resources, grid.name, Path(grid.out_dir), dry_run=args.dry_run, wait=args.wait)
    if args.dry_run:
        print(f"dry run: {len(pending(runs, queue_states()))} of {len(runs)} runs would be submitted")
    else:
        print(f"submitted {len(submitted)} of {len(runs)} runs")
    print_status(runs)


def is_study_file(path: str) -> bool:
    """A study file is a demo config (it has a ``pretrain`` section); a grid file has none."""
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False  # the loader names the problem
    return isinstance(raw, dict) and "pretrain" in raw


def print_study_status(cfg) -> None:
    from tabulate import tabulate

    from slurm.study import HEADERS, plan, status_rows

    print(tabulate(status_rows(cfg, plan(cfg)), headers=HEADERS, tablefmt="simple"))


def study_command(args) -> None:
    from slurm.cluster import wait_until_ended
    from slurm.study import launch as launch_study, load_study

    cfg = load_study(args.grid_file, args.overrides)

    def say(event, job):
        print(f"[study] {job.key}: {event}", flush=True)

    submitted = launch_study(cfg, dry_run=args.dry_run, on_event=say)
    ids = [job_id for _, job_id in submitted if job_id and job_id != "local"]
    if args.dry_run:
        print(f"dry run: {len(submitted)} jobs would run: " + ", ".join(job.key for job, _ in submitted))
    elif ids:
        print(f"submitted {len(ids)} jobs")
    elif not submitted:
        print("nothing to submit: every job is finished or queued")
    if args.wait and ids:
        wait_until_ended(ids, timeout_s=float("inf"))
    print_study_status(cfg)


def status_command(args) -> None:
    if is_study_file(args.grid_file):
        from slurm.study import load_study

        print_study_status(load_study(args.grid_file, args.overrides))
    else:
        print_status(grid_runs(args.grid_file, args.overrides)[1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m slurm.launch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    pretrain = commands.add_parser("pretrain", help="submit one pretraining run")
    pretrain.add_argument("--config-dir", default="configs/tiny", help="folder of the hydra configs (%(default)s)")
    pretrain.add_argument("--setting", required=True, help="a config of --config-dir: default, sep_emb, sep_l1_3, ...")
    pretrain.add_argument("--data", required=True, help="data folder in the xling_mlm layout (see README)")
    pretrain.add_argument("--langs", required=True, help="comma-separated languages, e.g. en,fr")
    pretrain.add_argument("--seed", type=int, default=1, help="fairseq's seed (%(default)s)")
    pretrain.add_argument(
        "--out-dir", default="results/pretrain", help="the run goes to OUT_DIR/<setting>/<pair>/seed<seed>"
    )
    precision = pretrain.add_mutually_exclusive_group()
    for name in PRECISIONS:
        help_text = ("bf16 where each node computes it natively (GPUs, AMX/AVX512-BF16 CPUs), else fp32"
                     if name == "auto" else f"train in {name} (default: the config's)")
        precision.add_argument(f"--{name}", dest="precision", action="store_const", const=name, help=help_text)
    pretrain.add_argument("--wait", action="store_true", help="return when the job has ended")
    add_resource_options(pretrain)
    pretrain.add_argument("overrides", nargs="*", help="fairseq hydra overrides, e.g. optimization.max_update=100")

    for name, what, help_text in (
        ("study", "study file, e.g. configs/study/tiny.yaml", "run a study file's missing jobs"),
        ("grid", "grid file, e.g. configs/grid/tiny.yaml", "submit a grid file's unfinished runs"),
        ("status", "study or grid file", "summarise a study's jobs or a grid's runs"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("grid_file", metavar="file", help=what)
        command.add_argument("overrides", nargs="*", help="key=value changes to the file, e.g. cluster=local")
    for name in ("study", "grid"):
        commands.choices[name].add_argument("--dry-run", action="store_true", help="check and show, submit nothing")
        commands.choices[name].add_argument("--wait", action="store_true", help="return when the jobs have ended")

    logs.add_verbosity(parser)
    args = parser.parse_args(argv)
    logs.configure(args.verbose, logging.WARNING, "%(levelname)s %(name)s: %(message)s")
    if args.command == "status":  # reads files and the queue only: nothing to stop or resume
        try:
            status_command(args)
        except ConfigError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0
    from slurm.cluster import LocalJobFailed
    from xling.interrupts import Interrupted, stop_on_signals

    handlers = {"study": study_command, "pretrain": pretrain_command, "grid": grid_command}
    try:
        with stop_on_signals():
            handlers[args.command](args)
    except ConfigError as error:  # LaunchError is one: bad input found before submitting
        print(f"error: {error}", file=sys.stderr)
        return 2
    except LocalJobFailed as failure:  # a study's job on this machine; the others were stopped
        print(f"error: {failure}\nrerun the same command to resume", file=sys.stderr)
        return 1
    except Interrupted as stop:
        print(f"interrupted ({stop.signal}): stopped; rerun the same command to resume", file=sys.stderr)
        return stop.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
