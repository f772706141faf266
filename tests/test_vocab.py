"""Text to ids through vocab.json, for the joint and the no-anchors settings."""

import json

import pytest

from fairseq_ext.vocab import Vocabulary
from helpers import train_spm, write_dict

TEXT = {
    "en": "the cat sat on the mat and the dog sat on the log",
    "ru": "кошка сидела на коврике а собака сидела на бревне",
    "zh": "猫坐在垫子上，狗坐在木头上。",
}


def test_joint_vocabulary_ids_are_sentencepiece_ids_plus_one(tmp_path):
    sp = train_spm(tmp_path / "spm", [t for t in TEXT.values()] * 20, 60)
    # joint rule: dict.txt = the pieces in spm order without <unk>, <s>, </s>
    write_dict(tmp_path / "dict.txt", [sp.id_to_piece(i) for i in range(3, sp.get_piece_size())])
    (tmp_path / "vocab.json").write_text(json.dumps(
        {"setting": "joint", "langs": list(TEXT), "sentencepiece": {l: "spm.model" for l in TEXT}}
    ))
    vocab = Vocabulary.load(tmp_path)
    for lang, text in TEXT.items():
        ids = vocab.encode(text, lang)
        assert ids[0] == vocab.dictionary.bos() and ids[-1] == vocab.dictionary.eos()
        assert ids[1:-1].tolist() == [i + 1 for i in sp.encode(text)]
    assert vocab.dictionary.index("<mask>") == len(vocab.dictionary) - 1


def test_no_anchor_pieces_carry_their_language(tmp_path):
    models = {lang: train_spm(tmp_path / f"spm.{lang}", [TEXT[lang]] * 20, 30) for lang in ("en", "ru")}
    pieces = [f"{lang}_{m.id_to_piece(i)}" for lang, m in models.items() for i in range(3, m.get_piece_size())]
    write_dict(tmp_path / "dict.txt", pieces)
    (tmp_path / "vocab.json").write_text(json.dumps({
        "setting": "no_anchors", "langs": ["en", "ru"],
        "sentencepiece": {"en": "spm.en.model", "ru": "spm.ru.model"},
        "piece_prefix": {"en": "en_", "ru": "ru_"},
    }))
    vocab = Vocabulary.load(tmp_path)
    en_ids = set(vocab.encode(TEXT["en"], "en")[1:-1].tolist())
    ru_ids = set(vocab.encode(TEXT["ru"], "ru")[1:-1].tolist())
    assert vocab.dictionary.unk() not in en_ids | ru_ids
    assert not en_ids & ru_ids
    words = TEXT["ru"].split()
    ids, first = vocab.encode_words(words, "ru")
    assert len(first) == len(words) and first[0] == 1
    assert vocab.dictionary[ids[first[1]]].startswith("ru_▁")  # each word starts a new piece


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="vocab.json"):
        Vocabulary.load(tmp_path)
    write_dict(tmp_path / "dict.txt", ["a"])
    (tmp_path / "vocab.json").write_text(json.dumps(
        {"setting": "joint", "langs": ["en"], "sentencepiece": {"en": "spm.model"}}
    ))
    with pytest.raises(FileNotFoundError, match="spm.model"):
        Vocabulary.load(tmp_path)
    (tmp_path / "vocab.json").write_text(json.dumps(
        {"setting": "bpe80k", "langs": ["en"], "sentencepiece": {"en": "spm.model"}}
    ))
    with pytest.raises(ValueError, match="unknown setting 'bpe80k'"):
        Vocabulary.load(tmp_path)
