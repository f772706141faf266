"""What a launch asks for: the resources of each job, and the grid file's layout.

Both are dataclasses with help text. ``Resources`` becomes command-line options
(``--tasks-per-node`` ...); a grid file is YAML read against ``GridConfig``, so a misspelt
key or a wrong type is refused with the file and the key's name.
"""

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from omegaconf import MISSING

from xling import config_loader
from xling.config_loader import ConfigError
from xling.settings import check as check_setting

CLUSTERS = ("auto", "slurm", "local")
PRECISIONS = ("fp32", "fp16", "bf16", "auto")  # auto: bf16 where the node computes it natively


class LaunchError(ConfigError):
    """Bad input found before anything is submitted; the message names the option or file."""


@dataclass
class Resources:
    nodes: int = field(default=1, metadata={"help": "nodes per run"})
    tasks_per_node: int = field(
        default=1, metadata={"help": "processes per node (data-parallel ranks); one per GPU on GPU nodes"}
    )
    gpus_per_node: int = field(default=0, metadata={"help": "GPUs per node; 0 trains on CPUs (gloo)"})
    cpus_per_task: int = field(
        default=1, metadata={"help": "CPU cores per process (fairseq's data workers + 1 is a good value)"}
    )
    mem_gb: float = field(default=4.0, metadata={"help": "memory per node, in GB"})
    timeout_min: int = field(
        default=60, metadata={"help": "time limit of one attempt, in minutes; a run that reaches it is requeued"}
    )
    partition: Optional[str] = field(default=None, metadata={"help": "SLURM partition (default: the cluster's)"})
    account: Optional[str] = field(default=None, metadata={"help": "SLURM account"})
    qos: Optional[str] = field(default=None, metadata={"help": "SLURM quality of service"})
    constraint: Optional[str] = field(default=None, metadata={"help": "SLURM node features, e.g. volta32gb"})
    signal_delay_s: int = field(
        default=120, metadata={"help": "SLURM sends USR2 this many seconds before the time limit"}
    )
    max_num_timeout: int = field(
        default=10, metadata={"help": "how often a run may be requeued after its time limit (preemptions always are)"}
    )
    cluster: str = field(
        default="auto",
        metadata={"help": "slurm; local (this machine: submitit's local executor); auto: slurm if it answers"},
    )


@dataclass
class SettingConfig:
    config: str = field(default=MISSING, metadata={"help": "hydra config in the grid's config_dir, e.g. sep_emb_l1_3"})
    data: str = field(
        default="",
        metadata={
            "help": "data folder of each pair; {pair} (en-fr), {lang1} (en) and {lang2} (fr) are filled in, "
            "e.g. data/wiki_cc_{lang1}_{lang2}/bin/union"
        },
    )
    data_by_pair: Dict[str, str] = field(
        default_factory=dict, metadata={"help": "pair -> data folder, where 'data' does not fit, e.g. {fr: ...}"}
    )
    overrides: List[str] = field(default_factory=list, metadata={"help": "fairseq hydra overrides for this setting"})


@dataclass
class RunBlock:
    settings: List[str] = field(default=MISSING, metadata={"help": "setting names (keys of 'settings')"})
    pairs: List[str] = field(
        default=MISSING, metadata={"help": "language pairs such as en-fr; a single language is a monolingual run"}
    )
    seeds: List[int] = field(default_factory=list, metadata={"help": "seeds of these runs (empty: the grid's seeds)"})


@dataclass
class GridConfig:
    name: str = field(default=MISSING, metadata={"help": "grid name: the SLURM job name of its arrays"})
    config_dir: str = field(default=MISSING, metadata={"help": "folder of the hydra configs, e.g. configs/paper"})
    out_dir: str = field(default=MISSING, metadata={"help": "runs go to OUT_DIR/<setting>/<pair>/seed<seed>"})
    seeds: List[int] = field(default_factory=lambda: [1], metadata={"help": "default seeds of every block"})
    precision: Optional[str] = field(
        default=None, metadata={"help": f"one of {PRECISIONS}; empty: what each config says"}
    )
    overrides: List[str] = field(default_factory=list, metadata={"help": "fairseq hydra overrides for every run"})
    settings: Dict[str, SettingConfig] = field(default_factory=dict, metadata={"help": "setting name -> config, data"})
    runs: List[RunBlock] = field(
        default_factory=list, metadata={"help": "blocks of settings x pairs x seeds; together, the grid"}
    )
    resources: Resources = field(default_factory=Resources)


def load_grid(path, overrides: Sequence[str] = ()) -> GridConfig:
    """The grid file at ``path`` with ``key=value`` changes, checked against ``GridConfig``."""
    grid = config_loader.load(GridConfig, [path], overrides, "grid")
    check_table1_settings(grid, str(path))
    return grid


def check_table1_settings(grid: GridConfig, where: str) -> None:
    """A setting named like a row of Table 1 (``xling.settings``) trains that row's
    config, and on its data folder wherever a folder is named like a pipeline output (a
    grid may point a setting at a folder of any other name)."""
    for name, setting in grid.settings.items():
        for data in [setting.data, *setting.data_by_pair.values()]:
            mismatch = check_setting(name, setting.config, data, "settings", strict_data=False)
            if mismatch:
                raise LaunchError(f"grid file {where}: {mismatch}")


def add_resource_options(parser) -> None:
    """One command-line option per ``Resources`` field, e.g. ``--tasks-per-node``."""
    hints = typing.get_type_hints(Resources)
    for f in dataclasses.fields(Resources):
        kind = next(t for t in typing.get_args(hints[f.name]) or (hints[f.name],) if t is not type(None))
        parser.add_argument(
            "--" + f.name.replace("_", "-"), type=kind, default=f.default, help=f"{f.metadata['help']} (%(default)s)"
        )


def resources_from_options(args) -> Resources:
    return Resources(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Resources)})
