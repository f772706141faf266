"""The benchmark's generated vocabularies (``bench/train_throughput.py --vocab``)."""

import sys
from pathlib import Path

import numpy as np
from fairseq.data import Dictionary, data_utils

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import train_throughput  # noqa: E402


def folder(tmp_path, setting, size):
    args = train_throughput.parse_args(["--data-dir", str(tmp_path), "--vocab", setting, "--vocab-size", str(size)])
    return train_throughput.ensure_data(args, setting)


def training_pieces(data, lang):
    dictionary = Dictionary.load(str(data / "dict.txt"))
    blocks = data_utils.load_indexed_dataset(str(data / lang / "train"), dictionary)
    ids = np.concatenate([blocks[i].numpy() for i in range(len(blocks))])
    return dictionary, [dictionary[i] for i in ids[ids != dictionary.eos()]]


def test_union_is_two_vocabularies_sharing_a_tenth_and_is_cached(tmp_path):
    data = folder(tmp_path, "union", 200)
    dictionary, fr = training_pieces(data, "fr")
    assert len(dictionary) - dictionary.nspecial == 190  # 100 + 100 - 10 shared
    assert set(fr) <= {f"fr{r}" for r in range(100)} | {f"s{r}" for r in range(0, 100, 10)}
    shared = np.mean([piece.startswith("s") for piece in fr])
    assert 0.2 < shared < 0.3  # ranks 0, 10, ... 90 of 100 hold 24% of a 1/rank draw
    assert fr.count("s0") > fr.count("fr1") > fr.count("fr99")  # Zipf: frequency falls with rank
    dict_time = (data / "dict.txt").stat().st_mtime_ns
    assert folder(tmp_path, "union", 200) == data and (data / "dict.txt").stat().st_mtime_ns == dict_time


def test_joint_is_one_vocabulary_for_both_languages(tmp_path):
    data = folder(tmp_path, "joint", 200)
    dictionary, en = training_pieces(data, "en")
    _, fr = training_pieces(data, "fr")
    assert len(dictionary) - dictionary.nspecial == 200
    assert set(en) | set(fr) <= {f"p{i}" for i in range(200)}
    assert train_throughput.dictionary_size(data) == 205  # + <s> <pad> </s> <unk> <mask>
