"""``python -m fairseq_ext.demo``: the whole study on the registry corpora, stage by stage.

Per pair: data (fetch + preprocess) -> pretrain -> transfer -> analysis; then the report
for every pair of OUT_DIR. Each stage prints one status line when it starts and one when
it ends, shows a progress bar, and logs to OUT_DIR/logs/<stage>.log; a failure names the
stage and that log. Stages reuse finished outputs, so a rerun only does what is missing.
Ctrl-C or SIGTERM stops the demo and every job it started; a rerun resumes.
"""

import argparse
import contextlib
import json
import logging
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Dict, List, Optional

from xling import files
from xling.config_loader import ConfigError
from fairseq_ext.demo.config import ALL_PAIRS, DemoConfig, load_config
from xling.interrupts import Interrupted, stop_on_signals

logger = logging.getLogger("fairseq_ext.demo")
TIMINGS = "timings.json"


class StageFailed(RuntimeError):
    pass


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


class Stages:
    """Status lines, per-stage logs and the wall time of each stage (OUT_DIR/timings.json)."""

    def __init__(self, out: Path, workers: int):
        self.out = out
        self.workers = workers
        self.logs = out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        path = out / TIMINGS
        self.timings: Dict[str, dict] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def log_path(self, stage: str) -> Path:
        return self.logs / f"{stage.replace(' ', '_')}.log"

    @contextlib.contextmanager
    def stage(self, name: str):
        """Run a stage; the body sets ``status["reused"]`` when it found everything done."""
        log_path = self.log_path(name)
        handler = logging.FileHandler(log_path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        print(f"[demo] {name}: started (log: {log_path})", flush=True)
        started = time.perf_counter()
        status = {"reused": False}
        try:
            yield status
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as error:
            logging.getLogger("fairseq_ext.demo").error("stage %s failed:\n%s", name, traceback.format_exc())
            raise StageFailed(f"stage '{name}' failed: {error}\n  see its log: {log_path}") from error
        finally:
            root.removeHandler(handler)
            handler.close()
        seconds = time.perf_counter() - started
        if not status["reused"]:
            # the machine and parallelism the stage ran with: a later --report-only may run elsewhere
            self.timings[name] = {"seconds": round(seconds, 1), "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                                  "cores": os.cpu_count(), "processes": self.workers}
            files.write_json(self.out / TIMINGS, self.timings)
        note = "reused finished outputs" if status["reused"] else "done"
        print(f"[demo] {name}: {note} in {_minutes(seconds)}", flush=True)


def data_config(cfg: DemoConfig, pair: str):
    """The corpus pipeline's config for ``pair`` (a ConfigError names its file and key)."""
    from preprocess.config import load_config as load_data_config

    lang1, lang2 = cfg.langs(pair)
    return load_data_config(cfg.data_config.format(lang1=lang1, lang2=lang2),
                            {"work_dir": str(cfg.pair_data_dir(pair)), **cfg.data})


def prepare_data(cfg: DemoConfig, pair: str) -> bool:
    """The corpus pipeline for ``pair`` into its data folder; returns whether any of its stages ran."""
    from preprocess.run import run as run_pipeline

    return any(m["ran"] for m in run_pipeline(data_config(cfg, pair)).values())


def run_pair(cfg: DemoConfig, pair: str, stages: Stages) -> None:
    from fairseq_ext.demo.analysis import analyse
    from fairseq_ext.demo.pretrain import plan_runs, pretrain
    from fairseq_ext.demo.transfer import plan_grids, transfer

    folder = cfg.pair_data_dir(pair)
    with stages.stage(f"data {pair}") as status:
        status["reused"] = not prepare_data(cfg, pair)

    runs = plan_runs(cfg, pair, folder)
    with stages.stage(f"pretrain {pair}") as status:
        seconds = pretrain(runs, cfg.workers, f"pretrain {pair}", cfg.pretrain.gpus)
        status["reused"] = not seconds
        for name, value in seconds.items():
            logger.info("pretrained %s in %.0f s", name, value)

    with stages.stage(f"transfer {pair}") as status:
        grids = plan_grids(cfg, pair, runs, (folder / "EVAL").resolve())
        before = _results(grids)
        transfer(grids, cfg.workers, cfg.out / pair / "transfer", f"transfer {pair}", stages.log_path(f"transfer {pair}"))
        status["reused"] = _results(grids) == before

    with stages.stage(f"analysis {pair}") as status:
        status["reused"] = not analyse(cfg, pair, runs, folder)


def _results(grids) -> int:
    from fairseq_ext.transfer.finetune import RESULT

    return sum((g.out_dir / p / RESULT).exists() for g in grids for p in g.points)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fairseq_ext.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/demo/default.yaml", help="demo config (%(default)s)")
    parser.add_argument("--preset", default="", help="comma-separated files beside --config that change it, in "
                        "turn: full (every Table 1 row), gpu (the three pairs, wider models, on one GPU)")
    parser.add_argument("--pairs", help=f"comma-separated pairs, or 'all' ({','.join(ALL_PAIRS)}); default: the config's")
    parser.add_argument("--scale", type=float, help="DEMO_SCALE: pretraining updates x S (results in OUT_DIR-scale<S>)")
    parser.add_argument("--jobs", type=int, help="processes at a time (0: every core)")
    parser.add_argument("--report-only", action="store_true", help="only write the report from what OUT_DIR holds")
    parser.add_argument("overrides", nargs="*", help="key=value changes to the demo config, e.g. pretrain.updates=3000")
    args = parser.parse_args(argv)

    overrides = list(args.overrides)
    if args.pairs:
        pairs = ALL_PAIRS if args.pairs == "all" else [p for p in args.pairs.split(",") if p]
        overrides.append(f"pairs=[{','.join(pairs)}]")
    for key in ("scale", "jobs"):
        if getattr(args, key) is not None:
            overrides.append(f"{key}={getattr(args, key)}")
    try:
        cfg = load_config(args.config, overrides, [p for p in args.preset.split(",") if p])
    except ConfigError as error:  # the demo's own checks raise DemoError, one of these
        parser.error(str(error))

    # one core per process: torch's default (every core in each process) oversubscribes
    # the machine as soon as two trainings run side by side
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    # logs go to the stage logs only (importing fairseq installs a console handler)
    logging.basicConfig(level=logging.INFO, handlers=[logging.NullHandler()], force=True)
    stages = Stages(cfg.out, cfg.workers)
    started = time.perf_counter()
    try:
        with stop_on_signals():
            if not args.report_only:
                for pair in cfg.pairs:
                    run_pair(cfg, pair, stages)
            with stages.stage("report"):
                from fairseq_ext.demo.report import write_report

                paths = write_report(cfg, stages.timings)
    except StageFailed as error:
        print(f"[demo] {error}", file=sys.stderr, flush=True)
        return 1
    except Interrupted as stop:
        print(f"[demo] interrupted ({stop.signal}): stopped with every job it started; "
              "rerun the same command to resume", file=sys.stderr, flush=True)
        return stop.exit_code
    print(f"[demo] finished in {_minutes(time.perf_counter() - started)}; report: "
          + ", ".join(str(p) for p in paths), flush=True)
    return 0
