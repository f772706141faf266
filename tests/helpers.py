"""Shared test helpers: small corpora binarized by fairseq-preprocess, in-process training."""

import contextlib
import json
import logging
import socket
from pathlib import Path
from typing import Dict, List, Tuple

from xling.settings import model_settings
from fairseq_ext.synthetic import language_words, make_data, write_text  # noqa: F401 (re-exported)

REPO = Path(__file__).resolve().parents[1]
USER_DIR = str(REPO / "fairseq_ext")

# Hand-written word lists of the paper's Section 5 languages, for small real-script corpora
WORDS = {
    "en": "the cat dog river house bird sat flew over near old village morning baker opens shop "
    "before sun rises children walked to school along road fields library keeps books".split(),
    "fr": "le chat chien rivière maison oiseau assis vola sur près vieux village matin boulanger ouvre "
    "boutique avant soleil lève enfants marchaient vers école long route champs bibliothèque garde livres".split(),
    "de": "die Katze Hund Fluss Haus Vogel saß flog über nahe alte Dorf Morgen Bäcker öffnet Laden "
    "bevor Sonne aufgeht Kinder gingen zur Schule entlang Straße Felder Bibliothek bewahrt Bücher".split(),
    "ru": "кошка собака река дом птица сидела летела над около старый деревня утром пекарь открывает "
    "магазин солнце встаёт дети шли в школу по дороге поля библиотека хранит книги".split(),
    "zh": "猫 狗 河流 房子 鸟 坐在 飞过 附近 古老 村庄 早上 面包师 打开 商店 太阳 升起 孩子们 "
    "走路 去 学校 沿着 道路 田野 图书馆 保存 书籍".split(),
}


def word_lines(lang: str, n: int, seed: int) -> List[str]:
    """``n`` sentences of 3-7 of the language's words (no spaces in Chinese)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    words = [rng.choice(WORDS[lang], size=rng.integers(3, 8)) for _ in range(n)]
    return ["".join(w) + "。" if lang == "zh" else " ".join(w).capitalize() + "." for w in words]


def vocabulary_folders(root: Path, langs: List[str]):
    """(texts, folders): ``word_lines`` text per language and split (200 train, 20 valid and 20
    test lines), and the joint, union and no_anchors data folders built from it by the
    corpus pipeline's code."""
    from preprocess.binarize import DataFolder, build_data_folder
    from preprocess.config import VocabConfig
    from preprocess.vocab import train_sentencepiece

    texts = {}
    for i, lang in enumerate(langs):
        texts[lang] = {}
        for j, (split, n) in enumerate((("train", 200), ("valid", 20), ("test", 20))):
            texts[lang][split] = root / f"{lang}.{split}"
            texts[lang][split].write_text("\n".join(word_lines(lang, n, 10 * i + j)) + "\n", encoding="utf-8")
    all_train = root / "all.train"
    all_train.write_text("".join(texts[lang]["train"].read_text(encoding="utf-8") for lang in langs), encoding="utf-8")
    cfg = VocabConfig(threads=1)
    train_sentencepiece(all_train, root / "joint.model", root / "joint.vocab", 300, cfg, langs)
    own = {}
    for lang in langs:
        own[lang] = root / f"{lang}.model"
        train_sentencepiece(texts[lang]["train"], own[lang], root / f"{lang}.vocab", 120, cfg, [lang])
    no_prefix = {lang: "" for lang in langs}
    folders = {
        "joint": DataFolder("joint", langs, {lang: root / "joint.model" for lang in langs}, texts, no_prefix),
        "union": DataFolder("union", langs, own, texts, no_prefix),
        "no_anchors": DataFolder("no_anchors", langs, own, texts, {lang: f"{lang}_" for lang in langs}),
    }
    for name, folder in folders.items():
        build_data_folder(folder, root / name, workers=1, chunk_lines=1000)
    return texts, {name: root / name for name in folders}


# The paper's parameter-sharing rows, as model flags (K=3 and K=6 fit xling_tiny's 8 layers),
# e.g. sep_emb_l1_3: ["--lang-specific-embeddings", "--lang-specific-layers", "3"]
SHARING_SETTINGS: Dict[str, List[str]] = {s.name: s.model_flags() for s in model_settings()}


def tiny_train_args(data: Path, save_dir: Path, langs: str, max_update: int, extra=()) -> List[str]:
    return [
        str(data),
        "--user-dir", USER_DIR,
        "--task", "xling_mlm",
        "--langs", langs,
        "--criterion", "xling_masked_lm",
        "--arch", "xling_tiny",
        "--tokens-per-sample", "32",
        "--batch-size", "8",
        "--optimizer", "adam",
        "--lr", "0.002",
        "--lr-scheduler", "inverse_sqrt",
        "--warmup-updates", "5",
        "--max-update", str(max_update),
        "--save-dir", str(save_dir),
        "--num-workers", "0",
        "--log-format", "json",
        "--log-interval", "5",
        "--ddp-backend", "legacy_ddp",
        "--cpu",
        "--seed", "1",
        "--no-epoch-checkpoints",
        *extra,
    ]


class _JsonLogCollector(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.INFO)
        self.records: List[Tuple[str, dict]] = []

    def emit(self, record):
        # fairseq's json progress bar logs under the names train_inner, train and valid
        if record.name in ("train_inner", "train", "valid"):
            self.records.append((record.name, json.loads(record.getMessage())))


def train(argv: List[str]) -> List[Tuple[str, dict]]:
    """Run fairseq-train in this process; return its json log lines as (logger, stats)."""
    from fairseq import options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.distributed import utils as distributed_utils
    from fairseq_cli import train as train_cli

    args = options.parse_args_and_arch(options.get_training_parser(), argv)
    cfg = convert_namespace_to_omegaconf(args)
    collector = _JsonLogCollector()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(collector)
    root.setLevel(logging.INFO)
    try:
        distributed_utils.call_main(cfg, train_cli.main)
    finally:
        root.removeHandler(collector)
        root.setLevel(old_level)
    return collector.records


@contextlib.contextmanager
def capture_trainers():
    """Collects every fairseq Trainer built inside the block (fairseq keeps them local)."""
    from fairseq import trainer as fairseq_trainer

    trainers = []
    original_init = fairseq_trainer.Trainer.__init__

    def remember(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        trainers.append(self)

    fairseq_trainer.Trainer.__init__ = remember
    try:
        yield trainers
    finally:
        fairseq_trainer.Trainer.__init__ = original_init


def build_task_and_model(argv: List[str]):
    """Parse fairseq-train arguments and build the task and model without training."""
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    args = options.parse_args_and_arch(options.get_training_parser(), argv)
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    return task, task.build_model(cfg.model)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def whole_dictionary_layout(path, old_path):
    """``path``'s checkpoint as saved before per-language vocabularies: every language's
    token table has a row per dictionary id (the rows a language lacks hold noise)."""
    import torch

    state = torch.load(path, map_location="cpu")
    model, generator = state["model"], torch.Generator().manual_seed(0)
    encoder = "encoder.sentence_encoder."
    num_langs = sum(1 for key in model if key.startswith(encoder + "vocabularies.") and key.endswith(".ids"))
    for lang in range(num_langs):
        table_key = encoder + ("embed_tokens.weight" if lang == 0 else f"extra_embed_tokens.{lang - 1}.weight")
        ids = model.pop(f"{encoder}vocabularies.{lang}.ids")
        rows = model.pop(f"{encoder}vocabularies.{lang}.rows")
        table = torch.randn(len(rows), model[table_key].shape[1], generator=generator)
        table[ids] = model[table_key]
        model[table_key] = table
    model["encoder.lm_head.weight"] = model[encoder + "embed_tokens.weight"]
    options = state["cfg"]["model"]  # a Namespace from fairseq-train, a dict from fairseq-hydra-train
    (options if isinstance(options, dict) else vars(options)).pop("lang_vocab_sizes")
    torch.save(state, old_path)


def train_spm(path, lines, vocab_size):
    """A BPE sentencepiece model of ``lines`` at ``path``.model, loaded."""
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_prefix=str(path), vocab_size=vocab_size,
        model_type="bpe", character_coverage=1.0, minloglevel=2,
    )
    return spm.SentencePieceProcessor(model_file=f"{path}.model")


def write_dict(path, pieces):
    """A dict.txt of ``pieces`` in order (count 1 each)."""
    path.write_text("".join(f"{p} 1\n" for p in pieces), encoding="utf-8")


def training_ids(task, lang: str) -> set:
    """The ids in a language's binarized training split, read directly (not through the task's counts)."""
    import numpy as np
    from fairseq.data import data_utils

    dataset = data_utils.load_indexed_dataset(task.split_prefix("train", lang), task.source_dictionary)
    return set(np.concatenate([dataset[i].numpy() for i in range(len(dataset))]).tolist())


def queued_from(folder: Path) -> set:
    """The jobs SLURM still knows (array tasks as 12_3) that were submitted from under
    ``folder``: tests share one cluster, and each counts only what it submitted."""
    from slurm.cluster import queue_states

    arrays = {path.name.split("_")[0] for path in folder.rglob("*_submission.sh")}
    return {job for job in queue_states(controller_required=True) if job.split("_")[0] in arrays}
