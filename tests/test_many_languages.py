"""Five languages (the paper's Section 5: en, fr, de, ru, zh) with Sep Emb + L1-3 over each
language's own vocabulary: it trains, transfers from English to the four others, and
exports each language as an XLM-R folder with fairseq's logits."""

import json

import numpy as np
import pytest
import torch
from fairseq import checkpoint_utils

from fairseq_ext.export_hf import export
from fairseq_ext.export_hf.check import TOLERANCE
from fairseq_ext.transfer.config import load_config
from fairseq_ext.transfer.finetune import evaluated_sizes, finetune
from fairseq_ext.vocab import Vocabulary
from helpers import REPO, SHARING_SETTINGS, WORDS, tiny_train_args, train, training_ids, vocabulary_folders

pytestmark = pytest.mark.slow

LANGS = ["en", "fr", "de", "ru", "zh"]
TARGETS = LANGS[1:]
FOREIGN_SCRIPT = {"en": "ru", "fr": "zh", "de": "ru", "ru": "en", "zh": "de"}


@pytest.fixture(scope="module")
def five_languages(tmp_path_factory):
    """The union folder of the five languages and a Sep Emb + L1-3 model trained on it."""
    root = tmp_path_factory.mktemp("five_languages")
    _, folders = vocabulary_folders(root, LANGS)
    save_dir = root / "ckpt"
    train(tiny_train_args(folders["union"], save_dir, ",".join(LANGS), 6, SHARING_SETTINGS["sep_emb_l1_3"]))
    return {"data": folders["union"], "checkpoint": save_dir / "checkpoint_last.pt", "root": root}


def test_token_tables_hold_each_languages_own_vocabulary(five_languages):
    (model,), _, task = checkpoint_utils.load_model_ensemble_and_task([str(five_languages["checkpoint"])])
    encoder, dictionary = model.encoder.sentence_encoder, task.source_dictionary
    vocab = Vocabulary.load(five_languages["data"])
    sizes = []
    for lang_id, lang in enumerate(LANGS):
        ids = set(encoder.vocabulary_for(lang_id).ids.tolist())
        in_data = training_ids(task, lang)
        pieces = {dictionary.index(vocab.pieces(word, lang)[0]) for word in WORDS[lang][:5]}
        assert in_data <= ids and pieces <= ids and {0, 1, 2, 3, len(dictionary) - 1} <= ids
        # a language of another script has pieces this one's vocabulary lacks
        foreign = FOREIGN_SCRIPT[lang]
        pieces = {  # (the word-start mark alone is a piece of every language)
            dictionary.index(p) for word in WORDS[foreign] for p in vocab.pieces(word, foreign) if p.strip("▁")
        }
        assert not pieces & ids and len(pieces) > 10
        sizes.append(len(ids))
    dim = encoder.embed_tokens.embedding_dim
    assert sum(encoder.embed_tokens_for(lang).weight.numel() for lang in range(5)) == sum(sizes) * dim
    assert sum(sizes) < 2 * len(dictionary), "five tables of the whole dictionary would be 5 x its size"


def write_topic_task(root, n_train=60, n_test=20):
    """A classification EVAL folder (the corpus pipeline's layout): the label is given away by
    which half of the language's word list a sentence draws from."""
    folder = root / "classification" / "topic"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    files = [("en", "train", n_train), ("en", "dev", n_test)] + [(lang, "test", n_test) for lang in TARGETS]
    for lang, split, n in files:
        words, rows = WORDS[lang], []
        half = len(words) // 2
        for _ in range(n):
            label = int(rng.integers(2))
            chosen = rng.choice(words[label * half : (label + 1) * half], size=5)
            rows.append(f"{'ab'[label]}\t{('' if lang == 'zh' else ' ').join(chosen)}\n")
        (folder / f"{lang}.{split}.tsv").write_text("".join(rows), encoding="utf-8")
    return root


def test_english_fine_tuning_transfers_to_the_four_other_languages(five_languages, tmp_path):
    eval_root = write_topic_task(tmp_path / "EVAL")
    targets = [f"data.test.{lang}={eval_root}/classification/topic/{lang}.test.tsv" for lang in TARGETS]
    cfg = load_config(REPO / "configs" / "transfer" / "standin_classification.yaml", [
        f"model.checkpoint={five_languages['checkpoint']}", "model.name=five", f"data.root={eval_root}",
        f"out_dir={tmp_path / 'out'}", "name=topic", "setting=sep_emb_l1_3", "train.epochs=2", "train.batch_size=8",
        *targets,
    ])
    result = finetune(cfg)
    assert sorted(result["test"]) == sorted(TARGETS)
    assert evaluated_sizes(result, TARGETS) == ({lang: 20 for lang in TARGETS}, 20)
    for lang in TARGETS:
        assert 0.0 <= result["test"][lang]["accuracy"] <= 1.0 and 0.0 < result["majority_baseline"][lang] < 1.0


def test_every_language_exports_with_fairseqs_logits(five_languages):
    out = five_languages["root"] / "hf"
    differences = export(five_languages["checkpoint"], out)
    assert sorted(differences) == sorted(LANGS)
    assert all(difference <= TOLERANCE for difference in differences.values()), differences
    state = torch.load(five_languages["checkpoint"], map_location="cpu")["model"]
    for lang_id, lang in enumerate(LANGS):
        config = json.loads((out / lang / "config.json").read_text())
        rows = state[f"encoder.sentence_encoder.vocabularies.{lang_id}.ids"]
        assert config["vocab_size"] == len(rows)  # the language's own vocabulary, not the dictionary
        tokenizer = json.loads((out / lang / "tokenizer.json").read_text(encoding="utf-8"))
        assert len(tokenizer["model"]["vocab"]) == len(rows)


def test_input_embedding_word_translation_reads_each_languages_own_rows(five_languages):
    from fairseq_ext.analysis.bli import input_embedding_space
    from fairseq_ext.transfer.model import load_pretrained

    model = load_pretrained(str(five_languages["checkpoint"]))
    dictionary = model.vocab.dictionary
    for lang in ("fr", "zh"):
        space = input_embedding_space(model, lang)
        lang_id = model.lang_id(lang)
        table = model.encoder.embed_tokens_for(lang_id).weight
        rows = model.encoder.vocabulary_for(lang_id).rows
        assert len(space.words) > 5
        for word, vector in zip(space.words[:5], space.vectors[:5]):
            (piece,) = model.vocab.pieces(word, lang)
            row = rows[dictionary.index(piece)]
            assert row != dictionary.unk() and torch.equal(vector, table[row].detach().float())
