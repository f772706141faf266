"""The pretraining settings of the paper's Table 1 (Conneau, Wu et al., ACL 2020,
"Emerging Cross-lingual Structure in Pretrained Language Models"), in one registry.

A setting is a model (a hydra config of ``configs/paper`` and ``configs/tiny``, which sets
the model options ``lang_specific_embeddings`` and ``lang_specific_layers``) trained on a
data folder of the corpus pipeline (``preprocess``: ``bin/<data>``). The rows that differ
by data only (Wiki-CC and the anchor rows) train the Default model. Each setting also
carries the paper's Table 1 numbers and the settings the paper finds it transfers worse
than. Everything else reads this module: the transfer table's row names, the demo's
claims and its config checks, the grid files' checks, the export's model card and the
tests.

This module imports neither fairseq nor torch: the launcher and the demo config read it.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

TASKS = ("XNLI", "NER", "Parsing")  # Table 1's tasks: XNLI accuracy, NER F1, parsing LAS
LANGS = ("fr", "ru", "zh", "Δ")  # target languages, then Δ: the 3-language average minus Default's
DATA_FOLDERS = ("joint", "union", "no_anchors", "extra_anchors", "domain_mismatch")  # preprocess outputs used here

Scores = Tuple[float, float, float, float]  # fr, ru, zh, Δ


@dataclass(frozen=True)
class Setting:
    """One row of Table 1."""

    name: str  # e.g. sep_emb_l1_6: run folders, config keys, summary.json's "setting"
    display: str  # the paper's row name, e.g. "Sep Emb + L1-6"
    config: str  # the pretraining hydra config (configs/{paper,tiny}/<config>.yaml)
    data: str  # the corpus pipeline's data folder (bin/<data>)
    description: str  # one line, for a reader who has not read the paper
    lang_specific_embeddings: bool = False  # model option: one embedding table per language
    lang_specific_layers: int = 0  # model option: layers 1..K (from the bottom) per language
    # settings the paper finds this one transfers worse than (Table 1's ablations; the demo's
    # "hurts transfer" claims); the first is the baseline, Default
    compared_with: Tuple[str, ...] = ()
    # the paper's Table 1, one (fr, ru, zh, Δ) per task of TASKS, in percent
    paper: Tuple[Scores, Scores, Scores] = field(default=((0.0,) * 4,) * 3, repr=False)

    def model_flags(self) -> List[str]:
        """The fairseq command-line flags of the model options, e.g. for Sep Emb + L1-6
        ``["--lang-specific-embeddings", "--lang-specific-layers", "6"]``."""
        return model_flags(self.lang_specific_embeddings, self.lang_specific_layers)

    @property
    def model_options(self) -> Tuple[bool, int]:
        """(lang_specific_embeddings, lang_specific_layers), as the configs set them."""
        return self.lang_specific_embeddings, self.lang_specific_layers

    @property
    def shares_all_parameters(self) -> bool:
        return not (self.lang_specific_embeddings or self.lang_specific_layers)

    def paper_scores(self) -> Dict[str, Dict[str, float]]:
        """The paper's numbers of this row: task -> {fr, ru, zh, Δ}."""
        return {task: dict(zip(LANGS, scores)) for task, scores in zip(TASKS, self.paper)}


_DEFAULT = ("default",)

# Table 1's rows, in its order
SETTINGS: Tuple[Setting, ...] = (
    Setting(
        "default", "Default", config="default", data="joint",
        description="the baseline: every parameter shared by both languages, one joint subword vocabulary, "
                    "both languages from Wikipedia",
        paper=((73.6, 68.7, 68.3, 0.0), (79.8, 60.9, 63.6, 0.0), (73.2, 56.6, 28.8, 0.0)),
    ),
    Setting(
        "wiki_cc", "Wiki-CC", config="default", data="domain_mismatch", compared_with=_DEFAULT,
        description="Default, but the other language's text is Common Crawl instead of Wikipedia "
                    "(the two languages' corpora differ in domain)",
        paper=((74.2, 65.8, 66.5, -1.4), (74.0, 49.6, 61.9, -6.2), (71.3, 54.8, 25.2, -2.5)),
    ),
    Setting(
        "no_anchors", "No anchors", config="default", data="no_anchors", compared_with=_DEFAULT,
        description="Default, but every subword is tagged with its language, so the two languages share "
                    "no token at all (no anchor points)",
        paper=((72.1, 67.5, 67.7, -1.1), (74.0, 57.9, 65.0, -2.4), (72.3, 56.2, 27.4, -0.9)),
    ),
    Setting(
        "default_anchors", "Default anchors", config="default", data="union",
        description="Default, but each language learns its own subword vocabulary; the pieces both happen "
                    "to learn are the only shared tokens",
        paper=((74.0, 68.1, 68.9, 0.1), (76.8, 56.3, 61.2, -3.3), (73.0, 57.0, 28.3, -0.1)),
    ),
    Setting(
        "extra_anchors", "Extra anchors", config="default", data="extra_anchors",
        description="Default, with training text code-switched through a bilingual dictionary: more words "
                    "shared between the languages",
        paper=((74.0, 69.8, 72.1, 1.8), (76.1, 59.7, 66.8, -0.5), (73.3, 56.9, 29.2, 0.3)),
    ),
    Setting(
        "sep_emb", "Sep Emb", config="sep_emb", data="union", compared_with=_DEFAULT,
        lang_specific_embeddings=True,
        description="each language has its own token embeddings; all Transformer layers are shared",
        paper=((72.7, 63.6, 60.8, -4.5), (75.5, 57.5, 59.0, -4.1), (71.7, 54.0, 27.5, -1.8)),
    ),
    Setting(
        "sep_l1_3", "Sep L1-3", config="sep_l1_3", data="union", compared_with=_DEFAULT,
        lang_specific_layers=3,
        description="each language has its own bottom three Transformer layers; embeddings and the upper "
                    "layers are shared",
        paper=((72.4, 65.0, 63.1, -3.4), (74.0, 53.3, 60.8, -5.3), (69.7, 54.1, 26.4, -2.8)),
    ),
    Setting(
        "sep_l1_6", "Sep L1-6", config="sep_l1_6", data="union", compared_with=("default", "sep_l1_3"),
        lang_specific_layers=6,
        description="each language has its own bottom six Transformer layers; embeddings and the upper "
                    "layers are shared",
        paper=((61.9, 43.6, 37.4, -22.6), (61.2, 23.7, 3.1, -38.7), (61.7, 31.6, 12.0, -17.8)),
    ),
    Setting(
        "sep_emb_l1_3", "Sep Emb + L1-3", config="sep_emb_l1_3", data="union", compared_with=("default", "sep_emb"),
        lang_specific_embeddings=True, lang_specific_layers=3,
        description="each language has its own token embeddings and bottom three layers; only the upper "
                    "layers are shared",
        paper=((69.2, 61.7, 56.4, -7.8), (73.8, 46.8, 53.5, -10.0), (68.2, 53.6, 23.9, -4.3)),
    ),
    Setting(
        "sep_emb_l1_6", "Sep Emb + L1-6", config="sep_emb_l1_6", data="union",
        compared_with=("default", "sep_emb_l1_3"), lang_specific_embeddings=True, lang_specific_layers=6,
        description="each language has its own token embeddings and bottom six layers; only the upper "
                    "layers are shared (the paper's largest drop in transfer)",
        paper=((51.6, 35.8, 34.4, -29.6), (56.5, 5.4, 1.0, -47.1), (50.9, 6.4, 1.5, -33.3)),
    ),
)
BY_NAME: Dict[str, Setting] = {s.name: s for s in SETTINGS}
NAMES: Tuple[str, ...] = tuple(BY_NAME)
BASELINE = "default"


def get(name: str) -> Setting:
    """The setting called ``name``; a KeyError that lists the names there are."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown setting {name!r} (Table 1's settings: {', '.join(NAMES)})") from None


def display_names() -> Dict[str, str]:
    """name -> the paper's row name, in Table 1's order."""
    return {s.name: s.display for s in SETTINGS}


def display(name: str) -> str:
    """The paper's row name of ``name``; any other name (e.g. mono) stays as it is."""
    return BY_NAME[name].display if name in BY_NAME else name


def paper_table() -> Dict[str, Dict[str, Dict[str, float]]]:
    """The paper's Table 1: row name -> task -> {fr, ru, zh, Δ}."""
    return {s.display: s.paper_scores() for s in SETTINGS}


def comparisons() -> List[Tuple[str, str]]:
    """(setting, reference) pairs where the paper finds ``setting`` transfers worse: every
    setting against Default first, then each against its second reference, in Table 1's order."""
    depth = max(len(s.compared_with) for s in SETTINGS)
    return [(s.name, s.compared_with[k]) for k in range(depth) for s in SETTINGS if k < len(s.compared_with)]


def model_settings() -> List[Setting]:
    """One setting per pretraining config (its first row): the six parameter-sharing models."""
    seen: Dict[str, Setting] = {}
    for s in SETTINGS:
        seen.setdefault(s.config, s)
    return list(seen.values())


def model_flags(lang_specific_embeddings: bool, lang_specific_layers: int) -> List[str]:
    """The fairseq command-line flags of these model options."""
    return (["--lang-specific-embeddings"] if lang_specific_embeddings else []) + (
        ["--lang-specific-layers", str(lang_specific_layers)] if lang_specific_layers else []
    )


def by_model_options(lang_specific_embeddings: bool, lang_specific_layers: int) -> Optional[Setting]:
    """The model setting (see :func:`model_settings`) with these options, e.g. (True, 3) ->
    sep_emb_l1_3, (False, 0) -> default; None where Table 1 has no such row (e.g. L1-2)."""
    options = (bool(lang_specific_embeddings), int(lang_specific_layers or 0))
    return next((s for s in model_settings() if s.model_options == options), None)


def sharing_name(lang_specific_embeddings: bool, lang_specific_layers: int) -> str:
    """The row name of these model options ('Sep Emb + L1-3'); options outside Table 1 are
    named the same way ('Sep L1-2')."""
    setting = by_model_options(lang_specific_embeddings, lang_specific_layers)
    if setting is not None:
        return setting.display
    separated = (["Emb"] if lang_specific_embeddings else []) + (
        [f"L1-{lang_specific_layers}"] if lang_specific_layers else []
    )
    return "Sep " + " + ".join(separated)


def check(name: str, config: str, data: str, where: str, strict_data: bool = True) -> Optional[str]:
    """Why ``config`` and data folder ``data`` do not fit setting ``name`` of Table 1 (None if
    they do, or if ``name`` is not one of its settings). ``data`` is a folder name or path;
    ``strict_data=False`` checks only a folder named like one of ``DATA_FOLDERS`` (a grid
    may train on a folder of any other name). ``where`` prefixes the key, e.g.
    'pretrain.settings'."""
    if name not in BY_NAME:
        return None
    setting = BY_NAME[name]
    if config != setting.config:
        return (f"{where}.{name}.config {config!r}: {setting.display} trains the config {setting.config!r} "
                f"(xling/settings.py)")
    folder = data.rstrip("/").rsplit("/", 1)[-1]
    if folder != setting.data and (strict_data or folder in DATA_FOLDERS):
        return (f"{where}.{name}.data {data!r}: {setting.display} trains on the data folder {setting.data!r} "
                f"(xling/settings.py)")
    return None
