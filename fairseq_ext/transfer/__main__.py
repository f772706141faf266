"""Command line: ``python -m fairseq_ext.transfer {finetune,grid,table} ...`` (see --help).

Ctrl-C or SIGTERM stops a run where it is; rerunning the command resumes it. A run holds
its folder's lock (``xling.run_lock``): a second run into the same folder is refused."""

import argparse
import json
import sys

from fairseq_ext import patches
from xling import logs, run_lock
from xling.interrupts import Interrupted, stop_on_signals
from fairseq_ext.transfer.config import load_config
from fairseq_ext.transfer.finetune import finetune
from fairseq_ext.transfer.grid import run_grid
from fairseq_ext.transfer.table import write_table


def main(argv=None) -> int:
    patches.apply()  # fairseq's checkpoint loading and training with the plugin's fixes
    parser = argparse.ArgumentParser(prog="python -m fairseq_ext.transfer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("finetune", "one fine-tuning run (the config's grid is ignored)"),
        ("grid", "every point of the config's grid, then OUT/summary.json (average of the best two on dev)"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("config", help="YAML config, e.g. configs/transfer/ner_wikiann.yaml")
        command.add_argument("overrides", nargs="*", help="key=value overrides, e.g. model.checkpoint=ckpt.pt")
    commands.choices["grid"].add_argument("--point", type=int, help="run only this point (0-based)")
    tabulate = commands.add_parser("table", help="gather summaries into Table 1's layout (CSV and Markdown)")
    tabulate.add_argument("root", help="folder searched for summary.json files, e.g. results/transfer")
    tabulate.add_argument("--baseline", default="default", help="setting the Δ columns compare with")
    tabulate.add_argument("--out", help="output prefix (default: ROOT/table1)")
    logs.add_verbosity(parser)
    args = parser.parse_args(argv)
    logs.configure(args.verbose)
    try:
        with stop_on_signals():
            run_command(args)
    except Interrupted as stop:
        print(f"interrupted ({stop.signal}): rerun the same command to resume", file=sys.stderr)
        return stop.exit_code
    return 0


def run_command(args) -> None:
    if args.command == "finetune":
        cfg = load_config(args.config, args.overrides)
        with run_lock.acquire(cfg.out_dir):
            result = finetune(cfg)
        print(json.dumps({"dev": result["dev"], "test": result["test"]}, indent=2))
    elif args.command == "grid":
        summary = run_grid(args.config, args.overrides, args.point)
        if summary is None:
            print("grid: some points are not finished yet; rerun when they are to write summary.json")
        else:
            print(json.dumps({k: summary[k] for k in ("best_points", "dev", "test")}, indent=2))
    else:
        for path in write_table(args.root, args.out or f"{args.root}/table1", args.baseline):
            print(path)


if __name__ == "__main__":
    sys.exit(main())
