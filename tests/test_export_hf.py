"""Hugging Face export: every sharing setting, reloaded by transformers in a fresh process,
gives fairseq's ids and logits; bad input fails clearly and leaves nothing behind."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm
import torch
from fairseq import checkpoint_utils

from fairseq_ext.export_hf import ExportCheckError, export
from fairseq_ext.export_hf.check import TOLERANCE, sentencepiece_ids
from fairseq_ext.export_hf.tokenizer import aligned_sentencepiece, hf_tokenizer
from fairseq_ext.export_hf.weights import XlingCheckpoint
from fairseq_ext.vocab import Vocabulary
from helpers import (
    REPO, SHARING_SETTINGS, USER_DIR, tiny_train_args, train, vocabulary_folders, whole_dictionary_layout,
)
from preprocess.binarize import DataFolder, build_data_folder
from preprocess.config import VocabConfig
from preprocess.vocab import train_sentencepiece

pytestmark = pytest.mark.slow  # every sharing setting trained and exported: make test runs it, make test-fast does not

LANGS = ["en", "ru", "zh"]
# written by hand, beyond the word lists (so some pieces and characters are rare or unknown)
SENTENCES = {
    "en": "The old baker opens his shop before the sun rises over the quiet village.",
    "ru": "Старый пекарь открывает свой магазин, пока солнце ещё не встало над деревней.",
    "zh": "老面包师在太阳升起之前打开了他的商店。",
}
MASKED = {"en": "The cat sat near the <mask>.", "ru": "Кошка сидела около <mask>.", "zh": "猫坐在<mask>附近。"}
# each sharing row over a vocabulary setting; language vectors on two of them
VARIANTS = {
    "default": ("joint", []),
    "sep_emb": ("union", ["--language-embeddings"]),
    "sep_l1_3": ("no_anchors", []),
    "sep_l1_6": ("union", []),
    "sep_emb_l1_3": ("joint", ["--language-embeddings"]),
    "sep_emb_l1_6": ("no_anchors", []),
}
SHARING_VOCABULARY = {setting: vocabulary for setting, (vocabulary, _) in VARIANTS.items()}
HYDRA_TRAINED = "sep_emb_l1_6"  # through configs/tiny/sep_emb_l1_6.yaml; the others through fairseq-train
UPDATES = 4


@pytest.fixture(scope="module")
def data_folders(tmp_path_factory):
    """joint, union and no_anchors folders of en/ru/zh, built by the corpus pipeline's code."""
    root = tmp_path_factory.mktemp("export_data")
    texts, folders = vocabulary_folders(root, LANGS)
    test_texts = {
        lang: texts[lang]["test"].read_text(encoding="utf-8").splitlines()[:6] + [SENTENCES[lang]] for lang in LANGS
    }
    return {"root": root, "texts": test_texts, **folders}


def train_tiny(data, save_dir, flags):
    train(tiny_train_args(data, save_dir, ",".join(LANGS), UPDATES, ["--no-save-optimizer-state", *flags]))
    return save_dir / "checkpoint_last.pt"


def train_hydra(data, save_dir, config):
    """fairseq-hydra-train with a tiny config: it stores the model options as a dict, not a Namespace."""
    save_dir.mkdir(parents=True)
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "fairseq-hydra-train"),
            "--config-dir", str(REPO / "configs" / "tiny"), "--config-name", config,
            f"task.data={data}", f'task.langs="{",".join(LANGS)}"', f"common.user_dir={USER_DIR}",
            "common.cpu=true", f"optimization.max_update={UPDATES}", "checkpoint.save_interval_updates=0",
            f"checkpoint.save_dir={save_dir}", f"hydra.run.dir={save_dir / 'hydra'}",
            "task.tokens_per_sample=32", "model.max_positions=32",
        ],
        cwd=save_dir, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return save_dir / "checkpoint_last.pt"


@pytest.fixture(scope="module")
def exports(data_folders, tmp_path_factory):
    """Each sharing setting trained for a few updates and exported (the export checks itself)."""
    root = tmp_path_factory.mktemp("exports")
    out = {}
    for setting, (vocab_setting, flags) in VARIANTS.items():
        data, save_dir = data_folders[vocab_setting], root / "ckpt" / setting
        if setting == HYDRA_TRAINED:
            checkpoint = train_hydra(data, save_dir, setting)
        else:
            checkpoint = train_tiny(data, save_dir, SHARING_SETTINGS[setting] + flags)
        folder = root / "hf" / setting
        differences = export(checkpoint, folder)
        out[setting] = {"checkpoint": checkpoint, "out": folder, "data": data, "differences": differences}
    return out


@pytest.fixture(scope="module")
def reloaded(exports, data_folders, tmp_path_factory):
    """What transformers computes on the exported folders, in a new process that is offline
    and imports neither fairseq nor the plugin."""
    work = tmp_path_factory.mktemp("probe")
    request = {}
    for setting, exported in exports.items():
        for lang in LANGS:
            folder = exported["out"] if setting == "default" else exported["out"] / lang
            request[f"{setting}/{lang}"] = {
                "folder": str(folder),
                "texts": data_folders["texts"][lang],
                "masked_text": MASKED[lang],
            }
    (work / "request.json").write_text(json.dumps(request), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, str(REPO / "tests" / "hf_reload_probe.py"), str(work / "request.json"), str(work)],
        cwd=work, env=env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    results = json.loads((work / "results.json").read_text(encoding="utf-8"))
    assert not results["fairseq_imported"]
    for job in results["jobs"].values():
        job["logits"] = np.load(work / job["logits"])
    return results["jobs"]


def fairseq_model(exported):
    models, _, _ = checkpoint_utils.load_model_ensemble_and_task([str(exported["checkpoint"])])
    return models[0].eval()


def test_layout_and_model_card(exports):
    single = exports["default"]["out"]
    assert (single / "config.json").exists() and not any((single / lang).exists() for lang in LANGS)
    assert set(exports["default"]["differences"]) == {"all"}
    for setting in VARIANTS:
        if setting == "default":
            continue
        out = exports[setting]["out"]
        assert sorted(p.name for p in out.iterdir()) == LANGS
        assert set(exports[setting]["differences"]) == set(LANGS)
        for lang in LANGS:
            files = {p.name for p in (out / lang).iterdir()}
            expected = {"config.json", "model.safetensors", "sentencepiece.bpe.model", "tokenizer.json", "README.md"}
            assert expected <= files
            assert not any(name.endswith((".bin", ".pt")) for name in files)
        assert not [p for p in out.parent.iterdir() if p.name.startswith(".")], "no staging folder is left"
    card = (exports["sep_emb_l1_3"]["out"] / "ru" / "README.md").read_text(encoding="utf-8")
    assert "Sep Emb + L1-3, with language embeddings" in card
    assert "en, ru, zh (this folder: ru)" in card
    assert f"{UPDATES} updates" in card and str(exports["sep_emb_l1_3"]["data"]) in card
    assert "Default (all parameters shared)" in (exports["default"]["out"] / "README.md").read_text(encoding="utf-8")
    for exported in exports.values():
        assert all(d <= TOLERANCE for d in exported["differences"].values())
    assert isinstance(torch.load(exports[HYDRA_TRAINED]["checkpoint"])["cfg"]["model"], dict)
    assert isinstance(torch.load(exports["sep_emb"]["checkpoint"])["cfg"]["model"], argparse.Namespace)


@pytest.mark.parametrize("setting", list(VARIANTS))
def test_transformers_reproduces_fairseq(setting, exports, reloaded, data_folders):
    exported = exports[setting]
    vocab = Vocabulary.load(exported["data"])
    model = fairseq_model(exported)
    encoder = model.encoder.sentence_encoder
    for lang_id, lang in enumerate(LANGS):
        job = reloaded[f"{setting}/{lang}"]
        texts = data_folders["texts"][lang]
        # with Sep Emb the folder's ids are the rows of the language's own vocabulary
        vocabulary = encoder.vocabulary_for(lang_id)
        if vocabulary is not None and SHARING_VOCABULARY[setting] == "union":
            assert len(vocabulary) < len(vocab.dictionary)

        def dictionary_ids(rows):
            return rows if vocabulary is None else vocabulary.ids[rows]

        assert job["ids"] == [encoder.token_rows(vocab.encode(text, lang), lang_id).tolist() for text in texts]
        folder = exported["out"] if setting == "default" else exported["out"] / lang
        processor = spm.SentencePieceProcessor(model_file=str(folder / "sentencepiece.bpe.model"))
        assert [sentencepiece_ids(processor, text) for text in texts] == job["ids"]

        batch, keep = torch.tensor(job["batch"]), torch.tensor(job["attention_mask"]).bool()
        assert not keep.all(), "the batch has padding"
        with torch.no_grad():
            logits, _ = model(dictionary_ids(batch), src_lang_id=torch.full((len(batch),), lang_id))
        difference = (logits - torch.from_numpy(job["logits"])).abs()[keep].max().item()
        assert difference <= TOLERANCE, f"{setting}/{lang}: logits differ by {difference}"

        # fill-mask: transformers' pipeline ranks tokens as fairseq's model does
        masked = torch.tensor([job["masked_ids"]])
        with torch.no_grad():
            probs = model(dictionary_ids(masked), src_lang_id=torch.tensor([lang_id]))[0].softmax(-1)[0]
        mask_row = encoder.token_rows(torch.tensor(vocab.dictionary.index("<mask>")), lang_id)
        at_mask = probs[masked[0] == mask_row][0]
        top = at_mask.topk(3)
        assert [p["token"] for p in job["fill_mask"]] == top.indices.tolist()
        assert np.allclose([p["score"] for p in job["fill_mask"]], top.values.numpy(), atol=TOLERANCE)


def test_unigram_and_cross_language_text_tokenize_like_fairseq(data_folders, tmp_path):
    """Tokenizers alone, beyond the trained models: a joint Unigram model, and every language's
    tokenizer on every language's text (unknown characters included) in joint and no-anchors
    folders. Union with Unigram models cannot be exported and says so."""
    root = data_folders["root"]
    texts = {lang: {split: root / f"{lang}.{split}" for split in ("train", "valid", "test")} for lang in LANGS}
    cfg = VocabConfig(threads=1, model_type="unigram")
    models = {}
    for name in ("all", *LANGS):
        models[name] = tmp_path / f"{name}.model"
        langs = LANGS if name == "all" else [name]
        train_sentencepiece(root / f"{name}.train", models[name], tmp_path / f"{name}.vocab", 150, cfg, langs)
    build_data_folder(DataFolder("joint", LANGS, {l: models["all"] for l in LANGS}, texts, {l: "" for l in LANGS}),
                      tmp_path / "joint_unigram", workers=1, chunk_lines=1000)
    build_data_folder(DataFolder("union", LANGS, {l: models[l] for l in LANGS}, texts, {l: "" for l in LANGS}),
                      tmp_path / "union_unigram", workers=1, chunk_lines=1000)
    every_text = [t for lang in LANGS for t in data_folders["texts"][lang]] + ["  spaced\tout  ", "x", ""]
    for folder in (tmp_path / "joint_unigram", data_folders["joint"], data_folders["no_anchors"]):
        vocab = Vocabulary.load(folder)
        for lang in LANGS:
            tokenizer = hf_tokenizer(aligned_sentencepiece(vocab, lang), model_max_length=512)
            assert tokenizer(every_text)["input_ids"] == [vocab.encode(t, lang).tolist() for t in every_text]
    with pytest.raises(ValueError, match="Unigram model in a 'union' folder"):
        aligned_sentencepiece(Vocabulary.load(tmp_path / "union_unigram"), "en")


def test_bad_input_fails_clearly_and_writes_nothing(exports, data_folders, tmp_path):
    exported = exports["sep_emb"]
    out = tmp_path / "out" / "model"
    out.parent.mkdir()

    def nothing_written():
        return list(out.parent.iterdir()) == []

    # a stock fairseq RoBERTa, through the command line
    roberta = train_tiny(data_folders["joint"], tmp_path / "roberta", [
        "--arch", "roberta", "--encoder-layers", "1", "--encoder-embed-dim", "16",
        "--encoder-ffn-embed-dim", "32", "--encoder-attention-heads", "2",
    ])
    result = subprocess.run(
        [sys.executable, "-m", "fairseq_ext.export_hf", str(roberta), str(out)],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 1
    assert "holds a fairseq 'roberta' model, not an xling_roberta model" in result.stderr
    assert nothing_written()

    not_a_checkpoint = tmp_path / "notes.pt"
    not_a_checkpoint.write_text("hello")
    with pytest.raises(ValueError, match="notes.pt cannot be read as a fairseq checkpoint"):
        export(not_a_checkpoint, out)
    assert nothing_written()

    # the data folder without the Russian sentencepiece model
    data = tmp_path / "data"
    data.mkdir()
    for name in ("dict.txt", "vocab.json", "spm.en.model", "spm.zh.model"):
        (data / name).write_bytes((exported["data"] / name).read_bytes())
    with pytest.raises(FileNotFoundError, match="spm.ru.model"):
        export(exported["checkpoint"], out, data_dir=data)
    assert nothing_written()

    with pytest.raises(FileExistsError, match="exists"):
        export(exported["checkpoint"], exported["out"])


def test_a_full_disk_fails_naming_the_output_and_writes_nothing(exports, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], check=True)  # tests run as root
    try:
        out = disk / "model"
        with pytest.raises(OSError, match=rf"{out}: writing the export failed .*No space left on device"):
            export(exports["sep_emb"]["checkpoint"], out)
        assert list(disk.iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_the_check_fails_on_wrong_weights(exports, tmp_path, monkeypatch):
    """A mapping mistake (here: Russian's lower layers in the wrong order) is caught by the
    built-in comparison with fairseq, and nothing is written."""
    exported = exports["sep_l1_3"]
    right = XlingCheckpoint.hf_state_dict

    def swapped_layers(self, lang):
        weights = right(self, lang)
        if self.langs[lang] == "ru":
            for name in [k for k in weights if k.startswith("roberta.encoder.layer.0.")]:
                other = name.replace("layer.0.", "layer.1.")
                weights[name], weights[other] = weights[other], weights[name]
        return weights

    monkeypatch.setattr(XlingCheckpoint, "hf_state_dict", swapped_layers)
    out = tmp_path / "model"
    with pytest.raises(ExportCheckError, match="logits of 'ru' differ"):
        export(exported["checkpoint"], out)
    assert list(tmp_path.iterdir()) == []


def test_a_checkpoint_with_whole_dictionary_tables_exports_converted(exports, tmp_path):
    """Saved before per-language vocabularies (every Sep Emb table over the whole union
    dictionary): the export converts it from its data and writes what the new layout gives."""
    new = exports["sep_emb"]
    old = tmp_path / "old.pt"
    whole_dictionary_layout(new["checkpoint"], old)
    differences = export(old, tmp_path / "hf")
    assert set(differences) == set(LANGS) and all(d <= TOLERANCE for d in differences.values())
    for lang in LANGS:
        for name in ("config.json", "tokenizer.json"):
            assert (tmp_path / "hf" / lang / name).read_text() == (new["out"] / lang / name).read_text(), (lang, name)
