"""Configuration of a zero-shot transfer run: dataclasses, read from YAML with
``key=value`` overrides (OmegaConf), so a misspelt key or a missing path is an error
that names it. The shipped configs are in ``configs/transfer/``."""

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence

from omegaconf import MISSING

from xling import config_loader
from xling.config_loader import ConfigError

FORMATS = ("xnli", "labelled_tsv", "bio_ner", "conllu")
HEAD_FORMATS = {"classification": ("xnli", "labelled_tsv"), "tagging": ("bio_ner",), "parsing": ("conllu",)}
SCHEDULES = ("linear", "constant")


@dataclass
class DataConfig:
    root: str = field(default=".", metadata={"help": "folder the shipped configs' paths start from (${data.root})"})
    format: str = field(default=MISSING, metadata={"help": f"file format, one of {FORMATS}"})
    source_lang: str = field(default="en", metadata={"help": "the fine-tuning language"})
    train: str = field(default=MISSING, metadata={"help": "training file (source language)"})
    dev: Optional[str] = field(
        default=None, metadata={"help": "source-language dev file for model selection; None: see dev_holdout"}
    )
    dev_holdout: float = field(
        default=0.0, metadata={"help": "without a dev file: this share of the training file (every n-th example)"}
    )
    test: Dict[str, str] = field(
        default_factory=dict,
        metadata={"help": "target language -> test file (XNLI: the same file); those the model has are tested"},
    )
    token_prefix: str = field(
        default="", metadata={"help": "bio_ner: prefix to strip from tokens, '{lang}' is filled in (WikiAnn: '{lang}:')"}
    )
    label_map: Dict[str, str] = field(
        default_factory=dict, metadata={"help": "bio_ner: entity type renames; 'O' drops a type"}
    )
    universal_relations: bool = field(
        default=True, metadata={"help": "conllu: drop relation subtypes (nsubj:pass -> nsubj), as the CoNLL 2018 LAS"}
    )
    max_train_examples: Optional[int] = field(
        default=None, metadata={"help": "use only the first N training examples (quick runs)"}
    )


@dataclass
class ModelConfig:
    name: str = field(
        default=MISSING, metadata={"help": "a name for the pretrained model, e.g. en-fr (a folder of out_dir)"}
    )
    checkpoint: str = field(default=MISSING, metadata={"help": "pretrained xling_roberta checkpoint (.pt)"})
    vocab_dir: Optional[str] = field(
        default=None, metadata={"help": "folder with dict.txt and vocab.json; None: the checkpoint's task.data"}
    )
    feature_layer: Optional[int] = field(
        default=None, metadata={"help": "use layer i's output (0 = embeddings); None: the last layer"}
    )
    freeze_layers: int = field(
        default=0, metadata={"help": "also freeze the embeddings and layers 1..k (the language-specific parts always are)"}
    )


@dataclass
class HeadConfig:
    kind: str = field(default=MISSING, metadata={"help": f"one of {tuple(HEAD_FORMATS)}"})
    dropout: float = field(default=0.1, metadata={"help": "dropout on the head's input (the parser's MLPs too)"})
    pooling: str = field(
        default="first",
        metadata={"help": "classification: 'first' (<s>, the paper) or 'mean' (of the non-padding tokens)"},
    )
    arc_dim: int = field(default=512, metadata={"help": "parser: arc MLP size"})
    relation_dim: int = field(default=128, metadata={"help": "parser: relation MLP size"})
    projector_layers: int = field(
        default=0, metadata={"help": "Transformer layers between encoder and head (paper Sec. 5.1.2 uses 4)"}
    )
    projector_heads: int = field(default=12, metadata={"help": "attention heads of the projector layers"})
    projector_ffn_dim: int = field(default=3072, metadata={"help": "feed-forward size of the projector layers"})
    projector_dropout: float = field(default=0.2, metadata={"help": "dropout inside the projector"})


@dataclass
class TrainConfig:
    epochs: int = field(default=10, metadata={"help": "fine-tuning epochs; dev is scored after each"})
    examples_per_epoch: Optional[int] = field(
        default=None, metadata={"help": "fixed-size epochs (XLM's XNLI: 20000); None: one pass over the data"}
    )
    batch_size: int = field(default=32, metadata={"help": "examples per update"})
    lr: float = field(default=2e-5, metadata={"help": "learning rate of the encoder's trainable parameters"})
    head_lr: Optional[float] = field(default=None, metadata={"help": "learning rate of the head; None: lr"})
    schedule: str = field(
        default="linear", metadata={"help": "'linear': warm up over warmup_ratio of the updates, then decay to 0; 'constant'"}
    )
    warmup_ratio: float = field(default=0.1, metadata={"help": "share of the updates used for warm-up (linear)"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (not on biases and norms); 0 = Adam"})
    clip_norm: float = field(default=1.0, metadata={"help": "gradient norm clipping; 0 = none"})
    patience: Optional[int] = field(
        default=None, metadata={"help": "stop after this many epochs without a better dev score; None: never"}
    )
    eval_batch_size: int = field(default=64, metadata={"help": "examples per evaluation batch"})
    max_tokens: Optional[int] = field(default=None, metadata={"help": "subword limit per example; None: the model's"})
    seed: int = field(default=1, metadata={"help": "seed of the head's initialisation, the data order and dropout"})
    device: str = field(default="auto", metadata={"help": "'auto' (cuda when available), 'cpu', 'cuda', 'cuda:1', ..."})
    save_model: bool = field(default=True, metadata={"help": "keep best.pt (the fine-tuned weights) after the run"})


@dataclass
class TransferConfig:
    name: str = field(default=MISSING, metadata={"help": "run name, e.g. ner_wikiann"})
    column: str = field(default=MISSING, metadata={"help": "Table 1 column group, e.g. XNLI, NER, Parsing"})
    setting: str = field(
        default=MISSING, metadata={"help": "Table 1 row of the pretrained model, e.g. default, sep_emb_l1_3"}
    )
    out_dir: str = field(
        default="results/transfer/${setting}/${model.name}/${name}",
        metadata={"help": "where result.json goes (a grid: one sub-folder per point, and summary.json)"},
    )
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    grid: Dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "hyper-parameter grid, nested like the config: {train: {lr: [2e-5, 3e-5]}}"},
    )


def merged_config(path: Optional[str] = None, overrides: Sequence[str] = ()):
    """The OmegaConf config of a YAML file plus ``key=value`` overrides (not yet validated)."""
    return config_loader.merge(TransferConfig, [path] if path is not None else [], overrides, "transfer config")


def to_config(merged) -> TransferConfig:
    return config_loader.to_object(merged, check=check)


def load_config(path: Optional[str] = None, overrides: Sequence[str] = ()) -> TransferConfig:
    return config_loader.load(TransferConfig, [path] if path is not None else [], overrides, "transfer config", check)


def config_from_dict(config: Dict[str, Any]) -> TransferConfig:
    """The config a run recorded in its result.json (already resolved)."""
    return config_loader.load(TransferConfig, what="recorded transfer config", check=check, changes=config)


def check(cfg: TransferConfig) -> None:
    if cfg.head.kind not in HEAD_FORMATS:
        raise ConfigError(f"head.kind {cfg.head.kind!r}: expected one of {tuple(HEAD_FORMATS)}")
    if cfg.data.format not in HEAD_FORMATS[cfg.head.kind]:
        raise ConfigError(
            f"data.format {cfg.data.format!r} does not fit head.kind {cfg.head.kind!r} "
            f"(expected one of {HEAD_FORMATS[cfg.head.kind]})"
        )
    if cfg.train.epochs < 1:
        raise ConfigError(f"train.epochs is {cfg.train.epochs}: fine-tuning needs at least one epoch")
    if cfg.train.schedule not in SCHEDULES:
        raise ConfigError(f"train.schedule {cfg.train.schedule!r}: expected one of {SCHEDULES}")
    if not cfg.data.test:
        raise ConfigError("data.test is empty: give at least one target language and its test file")
    if cfg.data.dev is None and not 0 < cfg.data.dev_holdout < 1:
        raise ConfigError("give data.dev (a dev file) or data.dev_holdout (a share of the training data, 0..1)")


