"""The demo's configuration (``configs/demo/default.yaml``): dataclasses with help text,
read by the one config loader (``xling.config_loader``) so a misspelt key is an
error naming it and its file."""

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from omegaconf import MISSING

from xling import config_loader
from xling.config_loader import ConfigError
from xling.settings import check as check_setting


class DemoError(ConfigError):
    """Bad demo input; the message names the option or file."""


@dataclass
class SettingSpec:
    config: str = field(default=MISSING, metadata={"help": "hydra config of pretrain.config_dir, e.g. sep_emb"})
    data: str = field(default=MISSING, metadata={"help": "folder of the pipeline's bin/ ({lang}: monolingual runs)"})
    monolingual: bool = field(default=False, metadata={"help": "one run per language of the pair, named <setting>_<lang>"})
    update_share: float = field(default=1.0, metadata={
        "help": "this setting's updates as a share of pretrain.updates (0.5 for a monolingual model: as many "
                "subwords of its language as a bilingual model sees of each of its two)"})


@dataclass
class PretrainSpec:
    config_dir: str = field(default="configs/tiny", metadata={"help": "folder of the hydra pretraining configs"})
    updates: int = field(default=1500, metadata={"help": "updates per model (x scale)"})
    overrides: List[str] = field(default_factory=list, metadata={"help": "fairseq hydra overrides for every run"})
    settings: Dict[str, SettingSpec] = field(default_factory=dict, metadata={"help": "setting name -> config, data"})
    precision: str = field(
        default="auto", metadata={"help": "fp32, bf16, or auto: bf16 where this machine computes it natively"}
    )
    gpus: int = field(default=0, metadata={"help": "GPUs per run (0: CPU runs, one core each)"})


@dataclass
class TransferSpec:
    config: str = field(
        default="configs/transfer/standin_classification.yaml", metadata={"help": "transfer config with a grid"}
    )
    tasks: List[str] = field(default_factory=list, metadata={"help": "stand-in tasks (EVAL/classification/<task>)"})
    overrides: List[str] = field(default_factory=list, metadata={"help": "key=value changes to the transfer config"})


@dataclass
class AnalysisSpec:
    bilingual: str = field(default="default", metadata={"help": "the bilingual setting compared with the monolingual"})
    overrides: List[str] = field(default_factory=list, metadata={"help": "key=value changes to the analysis config"})


@dataclass
class DemoConfig:
    pairs: List[str] = field(default_factory=lambda: ["en-fr"], metadata={"help": "language pairs, en-<lang>"})
    scale: float = field(default=1.0, metadata={"help": "multiplies the pretraining updates (DEMO_SCALE)"})
    out_dir: str = field(default="results/demo", metadata={"help": "where runs and the report go (-scale<S> added)"})
    data_config: str = field(
        default="configs/data/registry_{lang1}_{lang2}.yaml", metadata={"help": "corpus config of each pair"}
    )
    data_dir: str = field(
        default="data/registry_{lang1}_{lang2}", metadata={"help": "the pipeline's output folder of each pair"}
    )
    data: Dict[str, Any] = field(
        default_factory=dict, metadata={"help": "changes to the corpus config, e.g. {fetch: {cache_dir: /cache}}"}
    )
    jobs: int = field(default=0, metadata={"help": "processes at a time, one core each (0: every core)"})
    pretrain: PretrainSpec = field(default_factory=PretrainSpec)
    transfer: TransferSpec = field(default_factory=TransferSpec)
    analysis: AnalysisSpec = field(default_factory=AnalysisSpec)

    @property
    def out(self) -> Path:
        return Path(self.out_dir if self.scale == 1 else f"{self.out_dir}-scale{self.scale:g}")

    @property
    def workers(self) -> int:
        return self.jobs or len(os.sched_getaffinity(0))

    def precision(self) -> Tuple[str, str]:
        """The pretraining precision on this machine, and why (``pretrain.precision``)."""
        if self.pretrain.precision != "auto":
            return self.pretrain.precision, "set by pretrain.precision"
        from fairseq_ext.mixed_precision import fastest_precision

        return fastest_precision(cuda=self.pretrain.gpus > 0)

    def scaled_updates(self, setting: str = "") -> int:
        """Updates per model (x scale); of ``setting``'s models, its share of them."""
        share = self.pretrain.settings[setting].update_share if setting else 1.0
        return max(1, round(self.pretrain.updates * self.scale * share))

    def langs(self, pair: str) -> List[str]:
        return pair.split("-")

    def pair_data_dir(self, pair: str) -> Path:
        lang1, lang2 = self.langs(pair)
        return Path(self.data_dir.format(lang1=lang1, lang2=lang2))


ALL_PAIRS = ("en-fr", "en-ru", "en-zh")


def preset_path(config: Path, preset: str) -> Path:
    """A preset is a file beside the demo config that changes some of its fields."""
    return config.parent / f"{preset}.yaml"


def load_config(path, overrides: Sequence[str] = (), presets: Sequence[str] = ()) -> DemoConfig:
    """``path``, then each preset over it in turn, then the ``key=value`` overrides."""
    path = Path(path)
    layers = [path]
    for preset in presets:
        layers.append(preset_path(path, preset))
        if not layers[-1].is_file():
            known = sorted(p.stem for p in path.parent.glob("*.yaml") if p != path)
            raise DemoError(f"preset {preset!r}: there is no {layers[-1]} (presets: {', '.join(known)})")
    return check_config(config_loader.load(DemoConfig, layers, overrides, "demo config"))


def check_config(cfg: DemoConfig) -> DemoConfig:
    """``cfg`` if the study it describes can run (a study file is a demo config too), else a DemoError."""
    for pair in cfg.pairs:
        langs = pair.split("-")
        if len(langs) != 2 or langs[0] != "en" or not langs[1] or langs[1] == "en":
            raise DemoError(f"pairs: {pair!r} is not en-<lang> (the registry corpora: {', '.join(ALL_PAIRS)})")
    if cfg.scale <= 0:
        raise DemoError(f"scale {cfg.scale}: must be positive")
    if cfg.analysis.bilingual not in cfg.pretrain.settings or cfg.pretrain.settings[cfg.analysis.bilingual].monolingual:
        raise DemoError(f"analysis.bilingual {cfg.analysis.bilingual!r} is not a bilingual setting of pretrain.settings")
    if not any(s.monolingual for s in cfg.pretrain.settings.values()):
        raise DemoError("pretrain.settings: the analysis needs a monolingual setting (monolingual: true)")
    for name, spec in cfg.pretrain.settings.items():
        if not 0 < spec.update_share <= 1:
            raise DemoError(f"pretrain.settings.{name}.update_share {spec.update_share}: expected a share in (0, 1]")
        mismatch = check_setting(name, spec.config, spec.data, "pretrain.settings")  # a Table 1 row as the paper ran it
        if mismatch:
            raise DemoError(mismatch)
    if cfg.pretrain.precision not in ("auto", "fp32", "bf16"):
        raise DemoError(f"pretrain.precision {cfg.pretrain.precision!r}: expected auto, fp32 or bf16")
    return cfg
