"""Which module of an ``xling_roberta`` encoder serves which language: the one home of that rule.

Language 0 (the first of ``--langs``) runs the stock modules, so a model with nothing
separated is exactly fairseq's RoBERTa. Language l > 0 runs its own copies of what is
separated: token and position tables ``extra_embed_tokens.{l-1}`` /
``extra_embed_positions.{l-1}`` with ``--lang-specific-embeddings``, layers 1..K
``extra_lower_layers.{l-1}.{i}`` with ``--lang-specific-layers K``; layers K+1..N
(``layers.{i}``) are shared. ``--language-embeddings`` adds one table of language vectors,
``embed_langs``, whose row l is language l's.

With ``--lang-specific-embeddings`` each language's token table (and so its tied softmax)
covers only that language's own vocabulary: the special symbols, ``<mask>`` and the
dictionary ids its sentencepiece model and its training data use.
``vocabularies.{l}`` holds the map between the shared dictionary ids and the rows of
language l's table (``LanguageVocabulary`` in ``xling_roberta``), so the tables take
Σ_l V_l rows instead of N × V.

Names are module paths inside the ``LanguageAwareTransformerEncoder`` (the model's
``encoder.sentence_encoder``); a parameter's name is its module's plus ``.weight`` /
``.bias``. They are plain strings so that the Hugging Face export can read a checkpoint's
state dict with them without building the model; the encoder resolves the same strings to
its modules.
"""

import operator
from argparse import Namespace
from dataclasses import dataclass
from typing import Iterable, List, Optional

TOKENS = "embed_tokens"
POSITIONS = "embed_positions"
LAYERS = "layers"
EXTRA_TOKENS = "extra_embed_tokens"
EXTRA_POSITIONS = "extra_embed_positions"
EXTRA_LAYERS = "extra_lower_layers"
LANGUAGE_VECTORS = "embed_langs"
VOCABULARIES = "vocabularies"  # per language: dictionary id <-> row of its token table
EMBEDDING_NORM = "layernorm_embedding"  # shared by every language
FINAL_NORM = "layer_norm"  # shared; only pre-norm encoders have one


def _unique(names: Iterable[Optional[str]]) -> List[str]:
    # shared modules appear once per language in per-language listings
    return list(dict.fromkeys(name for name in names if name is not None))


@dataclass(frozen=True)
class ParameterLayout:
    """The module names of one model's languages; language ids are indices in ``--langs``."""

    num_langs: int
    num_layers: int
    lang_specific_embeddings: bool = False  # "Sep Emb"
    lang_specific_layers: int = 0  # "Sep L1-K": K
    language_embeddings: bool = False
    positions: bool = True  # False with --no-token-positional-embeddings: no position tables at all

    def __post_init__(self):
        # the option checks (check_sharing_options) name the flags; this guards direct use
        if self.num_langs < 1 or not 0 <= self.lang_specific_layers < self.num_layers:
            raise ValueError(
                f"no layout has {self.num_langs} languages and layers 1..{self.lang_specific_layers} of "
                f"{self.num_layers} language-specific"
            )

    @classmethod
    def from_args(cls, args: Namespace, num_langs: int, num_layers: Optional[int] = None) -> "ParameterLayout":
        """The layout of a model built with ``args`` (the architecture's defaults filled in)."""
        return cls(
            num_langs=num_langs,
            num_layers=args.encoder_layers if num_layers is None else num_layers,
            lang_specific_embeddings=bool(getattr(args, "lang_specific_embeddings", False)),
            lang_specific_layers=int(getattr(args, "lang_specific_layers", 0) or 0),
            language_embeddings=bool(getattr(args, "language_embeddings", False)),
            positions=not getattr(args, "no_token_positional_embeddings", False),
        )

    @property
    def has_lang_specific_parts(self) -> bool:
        """Whether languages run different modules (language vectors are one shared table)."""
        return self.num_langs > 1 and (self.lang_specific_embeddings or self.lang_specific_layers > 0)

    def _lang(self, lang) -> int:
        lang = operator.index(lang)  # ints, numpy ints and 0-dim integer tensors
        if not 0 <= lang < self.num_langs:
            n = self.num_langs
            raise ValueError(f"language {lang} is out of range: the model has {n} languages, ids 0..{n - 1}")
        return lang

    def token_table(self, lang: int) -> str:
        lang = self._lang(lang)
        return TOKENS if lang == 0 or not self.lang_specific_embeddings else f"{EXTRA_TOKENS}.{lang - 1}"

    def vocabulary(self, lang: int) -> Optional[str]:
        """The map from dictionary ids to rows of ``lang``'s token table; None when every
        language reads the one shared table, whose rows are the dictionary ids."""
        lang = self._lang(lang)
        return f"{VOCABULARIES}.{lang}" if self.lang_specific_embeddings else None

    def position_table(self, lang: int) -> Optional[str]:
        lang = self._lang(lang)
        if not self.positions:
            return None
        return POSITIONS if lang == 0 or not self.lang_specific_embeddings else f"{EXTRA_POSITIONS}.{lang - 1}"

    def layer(self, lang: int, index: int) -> str:
        """Layer ``index`` (0-based: layer index+1 of the paper) as language ``lang`` runs it."""
        lang = self._lang(lang)
        if not 0 <= index < self.num_layers:
            raise ValueError(f"layer {index} is out of range: the model has layers 0..{self.num_layers - 1}")
        if lang == 0 or index >= self.lang_specific_layers:
            return f"{LAYERS}.{index}"
        return f"{EXTRA_LAYERS}.{lang - 1}.{index}"

    def layers(self, lang: int) -> List[str]:
        return [self.layer(lang, i) for i in range(self.num_layers)]

    def used_by(self, lang: int) -> List[str]:
        """The per-language modules a batch of ``lang`` runs (tables, then layers bottom-up)."""
        return _unique([self.token_table(lang), self.position_table(lang), *self.layers(lang)])

    def own(self, lang: int) -> List[str]:
        """The modules that only ``lang`` runs (none in a model without language-specific parts)."""
        if not self.has_lang_specific_parts:
            return []
        tables = [self.token_table(lang), self.position_table(lang)] if self.lang_specific_embeddings else []
        return _unique([*tables, *(self.layer(lang, i) for i in range(self.lang_specific_layers))])

    def unused_by(self, lang: int) -> List[str]:
        """The other languages' own modules, which a batch of ``lang`` leaves out."""
        self._lang(lang)
        return [name for other in range(self.num_langs) if other != lang for name in self.own(other)]

    def language_specific(self) -> List[str]:
        """Every language's specific parts: its own modules, and the language vectors."""
        owned = [name for lang in range(self.num_langs) for name in self.own(lang)]
        return owned + ([LANGUAGE_VECTORS] if self.language_embeddings else [])

    def embeddings(self) -> List[str]:
        """Every language's token and position tables."""
        langs = range(self.num_langs)
        return _unique(name for lang in langs for name in (self.token_table(lang), self.position_table(lang)))

    def layers_of_every_language(self, indices: Iterable[int]) -> List[str]:
        """Layers ``indices`` (0-based) of every language: a shared layer once, a separated one per language."""
        return _unique(self.layer(lang, i) for i in indices for lang in range(self.num_langs))

    def lower_layers(self, k: int) -> List[str]:
        """Layers 1..k of every language (all layers for k beyond their count, as a slice gives)."""
        return self.layers_of_every_language(range(min(k, self.num_layers)))
