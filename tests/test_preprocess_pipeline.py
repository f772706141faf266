"""The whole corpus pipeline on a small real slice of the registry corpora (en-fr), then
xling_mlm training on each vocabulary setting it produced.

The pipeline runs once per test session (the ``pipeline`` fixture of conftest.py, which
the demo's test reuses).
"""

import json
import re
from collections import Counter
from pathlib import Path

import pytest
import sentencepiece as spm
from fairseq.data import Dictionary, data_utils

from fairseq_ext.vocab import Vocabulary
from helpers import REPO, tiny_train_args, train
from preprocess.run import run
from preprocess.splits import is_reserved
from preprocess.textio import read_units
from registry_slice import small_config

pytestmark = pytest.mark.slow  # the corpus pipeline on a registry slice: make test runs it, make test-fast does not

SETTINGS = ("joint", "union", "no_anchors", "extra_anchors")


def ids_in(data: Path, lang: str, split: str = "train") -> set:
    dictionary = Dictionary.load(str(data / "dict.txt"))
    dataset = data_utils.load_indexed_dataset(str(data / lang / split), dictionary)
    ids = set()
    for i in range(len(dataset)):
        ids.update(dataset[i].tolist())
    return ids - {dictionary.bos(), dictionary.pad(), dictionary.eos(), dictionary.unk()}


def pieces(model: Path) -> list:
    sp = spm.SentencePieceProcessor(model_file=str(model))
    return [sp.id_to_piece(i) for i in range(3, sp.get_piece_size())]


@pytest.mark.parametrize("setting", SETTINGS)
def test_xling_mlm_trains_on_every_vocabulary_setting(pipeline, setting, tmp_path):
    cfg, _ = pipeline
    data = cfg.work / "bin" / setting
    records = train(tiny_train_args(data, tmp_path / "ckpt", "en,fr", 10))
    inner = [stats for name, stats in records if name == "train_inner"]
    assert len(inner) == 2 and all(float(s["loss"]) > 0 for s in inner)
    valid = [stats for name, stats in records if name == "valid"]
    assert float(valid[-1]["valid_loss_en"]) > 0 and float(valid[-1]["valid_loss_fr"]) > 0
    manifest = json.loads((data / "vocab.json").read_text())
    assert manifest["setting"] == setting and manifest["langs"] == ["en", "fr"]
    assert all((data / name).exists() for name in manifest["sentencepiece"].values())


def test_joint_dictionary_follows_sentencepiece_order(pipeline):
    cfg, _ = pipeline
    data = cfg.work / "bin" / "joint"
    symbols = [line.split()[0] for line in (data / "dict.txt").read_text(encoding="utf-8").splitlines()]
    assert symbols == pieces(data / "spm.model")
    # so the Hugging Face convention holds: fairseq id = sentencepiece id + 1
    sp = spm.SentencePieceProcessor(model_file=str(data / "spm.model"))
    text = "Dieu vit que la lumière était bonne"
    assert Vocabulary.load(data).encode(text, "fr")[1:-1].tolist() == [i + 1 for i in sp.encode(text)]


def test_union_shares_exactly_the_pieces_common_to_both_models(pipeline):
    cfg, _ = pipeline
    data = cfg.work / "bin" / "union"
    dictionary = Dictionary.load(str(data / "dict.txt"))
    en, fr = pieces(data / "spm.en.model"), pieces(data / "spm.fr.model")
    symbols = [dictionary[i] for i in range(dictionary.nspecial, len(dictionary))]
    assert symbols == en + [p for p in fr if p not in set(en)], "first language's order, then the new pieces"
    en_ids = {dictionary.index(p) for p in en}
    fr_ids = {dictionary.index(p) for p in fr}
    common = set(en) & set(fr)
    assert common and en_ids & fr_ids == {dictionary.index(p) for p in common}
    assert ids_in(data, "en") & ids_in(data, "fr") <= en_ids & fr_ids


def test_no_anchors_share_no_id_between_languages(pipeline):
    cfg, _ = pipeline
    data = cfg.work / "bin" / "no_anchors"
    symbols = (data / "dict.txt").read_text(encoding="utf-8").split("\n")
    assert all(s.startswith(("en_", "fr_")) for s in symbols if s)
    en, fr = ids_in(data, "en"), ids_in(data, "fr")
    assert en and fr and not en & fr
    vocab = Vocabulary.load(data)
    assert all(p.startswith("fr_") for p in vocab.pieces("Dieu vit la lumière", "fr"))


def eval_sentences(eval_dir: Path) -> set:
    found = set()
    for path in (eval_dir / "parallel").rglob("*"):
        if path.is_file() and not path.name.endswith(".manifest.json"):
            found.update(path.read_text(encoding="utf-8").splitlines())
    for path in (eval_dir / "classification").rglob("*.tsv"):
        found.update(line.split("\t", 1)[1] for line in path.read_text(encoding="utf-8").splitlines())
    return found


def test_no_evaluation_text_reaches_pretraining(pipeline):
    cfg, _ = pipeline
    in_eval_files = eval_sentences(cfg.work / "EVAL")
    pretraining = [p for p in (cfg.work / "text").rglob("*") if p.is_file() and not p.name.endswith(".manifest.json")]
    assert len(pretraining) >= 10
    for path in pretraining:
        lang = path.name.split(".")[0]
        # nor any unit reserved for evaluation in the file's language (the New Testament,
        # held-out chapters and pages), whether or not it was drawn into an evaluation file
        reserved = {u.text for corpus in ("bible", "libreoffice")
                    for u in read_units(cfg.work / "clean" / corpus / f"{lang}.tsv") if is_reserved(corpus, u.doc, cfg.eval)}
        lines = set(path.read_text(encoding="utf-8").splitlines()) - {""}  # "" separates documents
        assert lines and not lines & in_eval_files, f"{path} holds text of an evaluation file"
        assert not lines & reserved, f"{path} holds text reserved for evaluation"


def test_evaluation_files_follow_the_contract(pipeline):
    cfg, _ = pipeline
    ev = cfg.work / "EVAL"
    for name, n in (("bible_nt", 100), ("bible_nt_train", 200), ("libreoffice_test", 100), ("libreoffice_test_train", 200)):
        fr = (ev / "parallel" / name / "fr-en.fr").read_text(encoding="utf-8").splitlines()
        en = (ev / "parallel" / name / "fr-en.en").read_text(encoding="utf-8").splitlines()
        assert len(fr) == len(en) == n
    for a, b in (("bible_nt", "bible_nt_train"), ("libreoffice_test", "libreoffice_test_train")):
        assert not set((ev / "parallel" / a / "fr-en.en").read_text().splitlines()) & set(
            (ev / "parallel" / b / "fr-en.en").read_text().splitlines()), "map-learning pairs are disjoint"
    en2 = (ev / "parallel/bible_nt/en2-en.en2").read_text(encoding="utf-8").splitlines()
    assert len(en2) == len((ev / "parallel/bible_nt/en2-en.en").read_text(encoding="utf-8").splitlines()) >= 95

    labels = {"libreoffice_module": {"swriter", "scalc", "simpress", "sdraw", "smath", "sbasic", "shared", "schart",
                                     "sdatabase"},
              "bible_genre": {"law", "history", "wisdom", "prophets", "gospels", "epistles", "apocalyptic"}}
    for task, allowed in labels.items():
        rows = {f: [line.split("\t") for line in (ev / "classification" / task / f).read_text().splitlines()]
                for f in ("en.train.tsv", "en.dev.tsv", "fr.dev.tsv", "en.test.tsv", "fr.test.tsv")}
        assert all(len(r) == 2 and r[0] in allowed for rs in rows.values() for r in rs)
        assert len({r[0] for r in rows["en.train.tsv"]}) >= 4, "several classes"
        assert [r[0] for r in rows["en.test.tsv"]] == [r[0] for r in rows["fr.test.tsv"]], "same units"
        assert [r[0] for r in rows["en.dev.tsv"]] == [r[0] for r in rows["fr.dev.tsv"]], "same units"
        assert not {r[1] for r in rows["en.train.tsv"]} & {r[1] for r in rows["en.test.tsv"]}

    test = [line.split(" ") for line in (ev / "dictionaries/en-fr.test.txt").read_text().splitlines()]
    train_pairs = [line.split(" ") for line in (ev / "dictionaries/en-fr.train.txt").read_text().splitlines()]
    assert all(len(p) == 2 for p in test + train_pairs) and not {p[0] for p in test} & {p[0] for p in train_pairs}
    # MUSE-style: the test words are the English words of the pretraining text that the
    # dictionary covers, the most frequent first
    frequency = Counter(re.findall(r"[a-z]+(?:['-][a-z]+)*", (cfg.work / "text/bible/en.train").read_text().lower()))
    test_words, train_words = {p[0] for p in test}, {p[0] for p in train_pairs}
    assert len(test_words) == 300
    assert min(frequency[w] for w in test_words) >= max(frequency[w] for w in train_words)
    assert {"god", "king", "house"} <= test_words


def test_extra_anchors_code_switch_at_most_15_percent_of_words(pipeline):
    cfg, manifests = pipeline
    for lang in cfg.langs:
        report = manifests[f"codeswitch/{lang}"]["report"]
        assert 0.1 < report["replaced_share"] <= 0.15
        original = (cfg.work / "text/bible" / f"{lang}.train").read_text(encoding="utf-8").splitlines()
        switched = (cfg.work / "text/codeswitch" / f"{lang}.train").read_text(encoding="utf-8").splitlines()
        assert len(original) == len(switched) and original != switched
    foreign = re.compile(r"\b(the|and|of|god|lord)\b")
    assert foreign.search((cfg.work / "text/codeswitch/fr.train").read_text(encoding="utf-8").lower())


def test_domain_mismatch_samples_the_second_domain_to_the_same_size(pipeline):
    cfg, manifests = pipeline
    report = manifests["match/fr"]["report"]
    assert report["short_by_chars"] == 0
    assert abs(report["sampled"]["chars"] - report["reference_chars"]) < 500
    bible_fr = {u.text for u in read_units(cfg.work / "clean/bible/fr.tsv")}
    matched = (cfg.work / "text/libreoffice_matched/fr.train").read_text(encoding="utf-8").splitlines()
    assert not bible_fr & set(matched), "the sample comes from the second domain only"
    assert json.loads((cfg.work / "bin/domain_mismatch/vocab.json").read_text())["setting"] == "joint"
    for lang in cfg.langs:
        mono = json.loads((cfg.work / f"bin/mono_{lang}/vocab.json").read_text())
        assert mono["langs"] == [lang] and (cfg.work / f"bin/mono_{lang}" / lang / "train.bin").exists()


def test_a_rerun_skips_every_stage_and_a_change_reruns_only_what_depends_on_it(pipeline, registry_cache):
    cfg, first = pipeline
    again = run(small_config(cfg.work, registry_cache))
    assert not [name for name, m in again.items() if m["ran"]]
    assert {n: m["outputs"] for n, m in again.items()} == {n: m["outputs"] for n, m in first.items()}
    changed = run(small_config(cfg.work, registry_cache, codeswitch={"seed": 2}))
    assert sorted(n for n, m in changed.items() if m["ran"]) == [
        "binarize/extra_anchors", "codeswitch/en", "codeswitch/fr", "encode/extra_anchors/1of1"]
    run(small_config(cfg.work, registry_cache))  # back to the session's data for the other tests
