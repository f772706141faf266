"""Configuration of an analysis run: dataclasses read from YAML with ``key=value``
overrides (OmegaConf), so a misspelt key is an error that names it.

Models are named once (``models``); a *side* of a comparison is ``MODEL:LANG`` (that
model, encoding that language of its ``--langs``) or ``random:MODEL:LANG`` (a randomly
initialised encoder of MODEL's architecture). A *comparison* names a language pair by
the data language of the contract files (``ru`` reads ``parallel/<set>/ru-en.ru``; ``en2``
is English′) and its two sides; the paper's are ``monolingual``, ``bilingual`` and
``random`` for each pair.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from omegaconf import MISSING

from xling import config_loader
from xling.config_loader import ConfigError

ANALYSES = ("bli", "retrieval", "cka", "word_maps")


@dataclass
class ModelSpec:
    checkpoint: str = field(default=MISSING, metadata={"help": "xling_roberta checkpoint (.pt)"})
    vocab_dir: Optional[str] = field(
        default=None, metadata={"help": "folder with dict.txt and vocab.json; None: the checkpoint's task.data"}
    )


@dataclass
class Side:
    model: str
    lang: str
    random_seed: Optional[int] = None

    @classmethod
    def parse(cls, text: str, seed: int, where: str) -> "Side":
        parts = text.split(":")
        if len(parts) == 3 and parts[0] == "random":
            return cls(parts[1], parts[2], seed)
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"{where}: {text!r} is not MODEL:LANG or random:MODEL:LANG")
        return cls(parts[0], parts[1])

    def key(self) -> str:
        return f"{'random:' if self.random_seed is not None else ''}{self.model}:{self.lang}"


@dataclass
class ComparisonSpec:
    pair: str = field(default=MISSING, metadata={"help": "data language of the files, e.g. ru, or en2 (English′)"})
    name: str = field(default=MISSING, metadata={"help": "e.g. monolingual, bilingual, random"})
    english: str = field(default=MISSING, metadata={"help": "side that encodes the English text, MODEL:LANG"})
    target: str = field(
        default=MISSING, metadata={"help": "side that encodes the pair's text, MODEL:LANG or random:MODEL:LANG"}
    )


@dataclass
class FastTextConfig:
    enabled: bool = field(default=True, metadata={"help": "train the fastText baseline (package 'fasttext')"})
    dim: int = field(default=300, metadata={"help": "vector size (the paper's fastText vectors: 300)"})
    epochs: int = field(default=5, metadata={"help": "training epochs"})
    min_count: int = field(default=1, metadata={"help": "fastText's minCount (words below it get subword-only vectors)"})
    threads: int = field(default=1, metadata={"help": "training threads (1: the same vectors on every run)"})


@dataclass
class BLIConfig:
    pairs: List[str] = field(default_factory=list, metadata={"help": "data languages to evaluate (default: every pair)"})
    comparisons: List[str] = field(
        default_factory=lambda: ["monolingual"], metadata={"help": "comparisons of each pair to evaluate"}
    )
    text: Dict[str, str] = field(
        default_factory=dict, metadata={"help": "language -> monolingual text (one sentence per line): en and each pair"}
    )
    train_dictionary: str = field(
        default="${eval_dir}/dictionaries/en-{lang}.train.txt", metadata={"help": "seed dictionary ({lang}: the pair)"}
    )
    test_dictionary: str = field(
        default="${eval_dir}/dictionaries/en-{lang}.test.txt", metadata={"help": "test dictionary ({lang}: the pair)"}
    )
    resplit: bool = field(
        default=False,
        metadata={
            "help": "merge the two dictionaries and split them again as MUSE does, by English frequency in "
            "text.en: seed_words most frequent words train, the next test_words test"
        },
    )
    seed_words: int = field(default=5000, metadata={"help": "resplit: English seed words (MUSE: 5000)"})
    test_words: int = field(default=1500, metadata={"help": "resplit: English test words (MUSE: 1500)"})
    max_sentences: int = field(
        default=500000, metadata={"help": "sentences of the text averaged per word (the paper: 500k)"}
    )
    max_words: int = field(
        default=50000, metadata={"help": "most frequent words kept per language (memory: layers x words x dim floats)"}
    )
    min_count: int = field(default=2, metadata={"help": "a word needs this many occurrences in the sample"})
    methods: List[str] = field(default_factory=lambda: ["nn", "csls"], metadata={"help": "retrieval: nn and/or csls"})
    csls_k: int = field(default=10, metadata={"help": "CSLS neighbourhood size (the paper: 10)"})
    fasttext: FastTextConfig = field(default_factory=FastTextConfig)


@dataclass
class RetrievalConfig:
    pairs: List[str] = field(default_factory=list, metadata={"help": "data languages (default: every pair)"})
    comparisons: List[str] = field(default_factory=list, metadata={"help": "comparisons (default: all of the pair)"})
    test_set: str = field(default="bible_nt", metadata={"help": "parallel set searched (EVAL/parallel/<set>)"})
    train_set: str = field(default="bible_nt_train", metadata={"help": "disjoint parallel set the maps are learned on"})
    max_train: int = field(default=10000, metadata={"help": "sentences for learning the map (the paper: 10k)"})
    max_test: Optional[int] = field(default=None, metadata={"help": "first N test sentences (None: all)"})
    methods: List[str] = field(default_factory=lambda: ["nn"], metadata={"help": "nn (the paper: cosine) and/or csls"})


@dataclass
class CKAConfig:
    pairs: List[str] = field(default_factory=list, metadata={"help": "data languages (default: every pair)"})
    comparisons: List[str] = field(default_factory=list, metadata={"help": "comparisons (default: all of the pair)"})
    set: str = field(default="bible_nt", metadata={"help": "parallel set whose sentences are compared"})
    max_sentences: int = field(default=10000, metadata={"help": "first N sentences"})
    debiased: bool = field(default=False, metadata={"help": "the unbiased HSIC estimator instead of the biased one"})
    bootstrap: int = field(
        default=200, metadata={"help": "resamples of the sentences for CKA's standard error (cka_se); 0: none"}
    )
    bootstrap_seed: int = field(default=1, metadata={"help": "seed of the resampling (the same for every comparison)"})


@dataclass
class WordMapsConfig:
    pairs: List[str] = field(default_factory=list, metadata={"help": "data languages (default: every pair)"})
    comparisons: List[str] = field(
        default_factory=lambda: ["monolingual"], metadata={"help": "comparisons (target model mapped onto English)"}
    )
    train_set: str = field(default="bible_nt_train", metadata={"help": "parallel set aligned to learn the maps"})
    test_set: str = field(default="bible_nt", metadata={"help": "parallel set the maps are evaluated on"})
    max_sentences: int = field(default=10000, metadata={"help": "parallel sentences aligned (the paper: 10k)"})
    max_pairs: int = field(
        default=30000, metadata={"help": "linked words used (memory: 2 x layers x pairs x dim floats)"}
    )


@dataclass
class AnalysisConfig:
    out_dir: str = field(default=MISSING, metadata={"help": "where tables, figures and maps go"})
    eval_dir: str = field(default=MISSING, metadata={"help": "the corpus pipeline's EVAL folder (parallel/, dictionaries/)"})
    analyses: List[str] = field(default_factory=lambda: list(ANALYSES), metadata={"help": f"subset of {ANALYSES}"})
    models: Dict[str, ModelSpec] = field(default_factory=dict, metadata={"help": "name -> checkpoint"})
    comparisons: List[ComparisonSpec] = field(
        default_factory=list, metadata={"help": "[{pair, name, english, target}, ...]"}
    )
    device: str = field(default="auto", metadata={"help": "'auto' (cuda when available), 'cpu', 'cuda', ..."})
    batch_size: int = field(default=32, metadata={"help": "sentences per forward pass"})
    lowercase: bool = field(default=True, metadata={"help": "lowercase words (dictionaries are lowercase)"})
    normalization_rounds: int = field(default=5, metadata={"help": "iterative normalisation rounds before Procrustes"})
    seed: int = field(default=1, metadata={"help": "seed of random encoders"})
    bli: BLIConfig = field(default_factory=BLIConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    cka: CKAConfig = field(default_factory=CKAConfig)
    word_maps: WordMapsConfig = field(default_factory=WordMapsConfig)

    def pairs(self) -> List[str]:
        return list(dict.fromkeys(c.pair for c in self.comparisons))

    def selected(self, section: str, pairs: Sequence[str], names: Sequence[str]) -> List[tuple]:
        """(pair, comparison name, English side, target side) of a section's selection."""
        chosen = []
        for pair in pairs or self.pairs():
            if pair not in self.pairs():
                raise ConfigError(f"{section}.pairs: no comparison has pair '{pair}' (pairs: {self.pairs()})")
            of_pair = {c.name: c for c in self.comparisons if c.pair == pair}
            for name in names or list(of_pair):
                if name not in of_pair:
                    raise ConfigError(f"{section}.comparisons: pair '{pair}' has no comparison '{name}'")
                chosen.append((pair, name, *self.sides(of_pair[name])))
        return chosen

    def sides(self, spec: ComparisonSpec) -> tuple:
        where = f"comparisons[{spec.pair}/{spec.name}]"
        return Side.parse(spec.english, self.seed, where + ".english"), Side.parse(spec.target, self.seed, where + ".target")


def load_config(path: Optional[str] = None, overrides: Sequence[str] = ()) -> AnalysisConfig:
    return config_loader.load(AnalysisConfig, [path] if path is not None else [], overrides, "analysis config", check)


def check(cfg: AnalysisConfig) -> None:
    for name in cfg.analyses:
        if name not in ANALYSES:
            raise ConfigError(f"analyses: unknown analysis '{name}' (choose from {ANALYSES})")
    seen = set()
    for spec in cfg.comparisons:
        if (spec.pair, spec.name) in seen:
            raise ConfigError(f"comparisons: '{spec.name}' of pair '{spec.pair}' is defined twice")
        seen.add((spec.pair, spec.name))
        for side in cfg.sides(spec):
            if side.model not in cfg.models:
                raise ConfigError(f"comparisons[{spec.pair}/{spec.name}]: model '{side.model}' is not under 'models'")
    for section in ("bli", "retrieval"):
        for method in getattr(cfg, section).methods:
            if method not in ("nn", "csls"):
                raise ConfigError(f"{section}.methods: unknown method '{method}' (nn, csls)")
    if "bli" in cfg.analyses:
        for pair, *_ in cfg.selected("bli", cfg.bli.pairs, cfg.bli.comparisons):
            for lang in ("en", pair):
                if lang not in cfg.bli.text:
                    raise ConfigError(f"bli.text: no monolingual text for '{lang}' (needed by pair '{pair}')")
