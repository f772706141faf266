"""The analysis toolkit end to end on tiny trained models (two monolingual, one bilingual)
of a synthetic language pair whose alignment is known (see analysis_corpus.py), and its
input checks."""

import csv
import json

import numpy as np
import pytest
import torch
import yaml

from analysis_corpus import build
from fairseq_ext.analysis import data
from fairseq_ext.analysis.bli import frequency_split
from fairseq_ext.analysis.cli import main
from fairseq_ext.analysis.config import load_config
from fairseq_ext.analysis.procrustes import OrthogonalMap
from fairseq_ext.analysis.representations import encode_words, load_model, sentence_vectors
from fairseq_ext.analysis.word_alignment import mapped_features

pytestmark = pytest.mark.slow  # trained models through every analysis: make test runs it, make test-fast does not

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def single_thread():
    # tiny models on 2 shared cores: one thread avoids OpenMP spinning (several times faster)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, single_thread):
    return build(tmp_path_factory.mktemp("analysis_corpus"), updates=150)


def write_config(path, corpus, out_dir):
    ckpt = {name: {"checkpoint": str(p)} for name, p in corpus["checkpoints"].items()}
    config = {
        "out_dir": str(out_dir),
        "eval_dir": str(corpus["eval_dir"]),
        "device": "cpu",
        "models": ckpt,
        "comparisons": [
            {"pair": "ru", "name": "monolingual", "english": "mono_en:en", "target": "mono_ru:ru"},
            {"pair": "ru", "name": "bilingual", "english": "bilingual:en", "target": "bilingual:ru"},
            {"pair": "ru", "name": "random", "english": "mono_en:en", "target": "random:mono_ru:ru"},
            {"pair": "en2", "name": "monolingual", "english": "mono_en:en", "target": "mono_en:en"},
        ],
        "bli": {
            "pairs": ["ru"],
            "text": {lang: str(p) for lang, p in corpus["text"].items()},
            "max_words": 500,
            "fasttext": {"dim": 32, "epochs": 50},
        },
        "retrieval": {"pairs": ["ru"]},
        "word_maps": {"pairs": ["ru"]},
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def analysis(corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis_run")
    config = write_config(root / "analysis.yaml", corpus, root / "out")
    assert main([str(config)]) == 0
    return root / "out"


def read_csv(path):
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_analysis_writes_its_figures_and_tables(analysis):
    written = json.loads((analysis / "summary.json").read_text())
    assert set(written) == {"bli", "retrieval", "cka", "word_maps"}
    paths = [p for files in written.values() for p in files]
    pngs = [p for p in paths if p.endswith(".png")]
    # per pair/comparison curves and heat-maps: bli 1, retrieval 1, word maps 1, CKA 4 + 2 x 2
    assert len(pngs) == 11
    for path in pngs:
        with open(path, "rb") as f:
            assert f.read(8) == PNG
    for path in paths:
        if path.endswith(".md"):
            table = open(path, encoding="utf-8").read().splitlines()
            assert table[0].startswith("| pair |") and len(table) > 3
    assert not list(analysis.rglob("*.partial")), "no temporary file is left behind"


def test_sentence_retrieval_needs_the_map_across_monolingual_models(analysis):
    rows = [r for r in read_csv(analysis / "retrieval" / "retrieval.csv") if r["comparison"] == "monolingual"]
    assert [int(r["layer"]) for r in rows] == list(range(9)) and rows[0]["test_sentences"] == "120"
    aligned = [float(r["aligned_nn_to_en_p@1"]) for r in rows]
    unaligned = [float(r["unaligned_nn_to_en_p@1"]) for r in rows]
    # two independently trained models: their spaces only meet through the rotation
    assert max(aligned) > 0.6 and max(aligned) > max(unaligned) + 0.4


def test_word_translation_reports_every_space(analysis):
    rows = read_csv(analysis / "bli" / "bli.csv")
    spaces = [r["space"] for r in rows]
    assert spaces[:3] == ["input embeddings", "fastText", "fastText (single-subword words)"]
    assert [r["layer"] for r in rows if r["space"] == "contextual"] == [str(i) for i in range(9)]
    for row in rows:
        assert 0 < int(row["test_words"]) <= 30 and int(row["train_pairs"]) > 0
        for key in ("aligned_nn_p@1", "aligned_csls_p@5", "unaligned_csls_p@1"):
            assert 0.0 <= float(row[key]) <= 1.0
    fasttext = next(r for r in rows if r["space"] == "fastText")
    # the relabelled language's fastText space is a rotation away from English's
    assert float(fasttext["aligned_csls_p@5"]) > 0.5 > float(fasttext["unaligned_csls_p@5"]) + 0.3


def test_cka_tables_hold_every_layer_and_the_average(analysis):
    rows = read_csv(analysis / "cka" / "cka_layers.csv")
    by_comparison = {}
    for row in rows:
        by_comparison.setdefault((row["pair"], row["comparison"]), []).append(row)
    assert set(by_comparison) == {("ru", "monolingual"), ("ru", "bilingual"), ("ru", "random"), ("en2", "monolingual")}
    for values in by_comparison.values():
        assert [r["layer"] for r in values] == [f"L{i}" for i in range(9)] + ["average"]
        cka = [float(r["cka"]) for r in values]
        assert all(0 <= v <= 1 for v in cka) and cka[-1] == pytest.approx(np.mean(cka[:-1]))
    matrix = read_csv(analysis / "cka" / "cka_ru_monolingual.csv")
    assert len(matrix) == 9 and len(matrix[0]) == 10  # layer name + 9 columns


def test_word_maps_map_target_features_into_the_english_space(analysis, corpus):
    saved = torch.load(analysis / "word_maps" / "ru_monolingual.pt")
    assert saved["english"] == "mono_en:en" and saved["target"] == "mono_ru:ru" and saved["train_pairs"] > 500
    maps = [OrthogonalMap.from_state_dict(state) for state in saved["maps"]]
    assert len(maps) == 9
    rows = read_csv(analysis / "word_maps" / "word_maps.csv")
    assert max(float(r["aligned_p@1"]) for r in rows) > 2 * max(float(r["unaligned_p@1"]) for r in rows)

    # the transfer protocol's input: mapped target features, comparable with the English model's
    english, target = (load_model(str(corpus["checkpoints"][n])) for n in ("mono_en", "mono_ru"))
    ru, en = data.read_parallel(*data.parallel_paths(corpus["eval_dir"], "bible_nt", "ru"), limit=8)
    tokens = torch.nn.utils.rnn.pad_sequence([target.vocab.encode(s, "ru") for s in ru], batch_first=True, padding_value=1)
    layer = 4
    mapped = mapped_features(target, tokens, torch.zeros(len(ru), dtype=torch.long), layer, maps)
    assert mapped.shape == (len(ru), tokens.shape[1], 64)
    en_vectors = sentence_vectors(english, en, "en")[layer]
    keep = (tokens > 2).unsqueeze(-1)
    mapped_pooled = (mapped * keep).sum(1) / keep.sum(1)
    raw_pooled = sentence_vectors(target, ru, "ru")[layer]
    distance = lambda a: (a - en_vectors).norm(dim=1).mean()  # noqa: E731
    assert distance(mapped_pooled) < distance(raw_pooled)


def test_sentence_vectors_pool_content_tokens_whatever_the_batch(corpus):
    model = load_model(str(corpus["checkpoints"]["bilingual"]))
    _, english = data.read_parallel(*data.parallel_paths(corpus["eval_dir"], "bible_nt", "ru"), limit=6)
    batched = sentence_vectors(model, english, "en", batch_size=6)  # padded batches
    single = sentence_vectors(model, english, "en", batch_size=1)
    assert batched.shape == (9, 6, 64)
    assert torch.allclose(batched, single, atol=1e-5)
    tokens = model.vocab.encode(english[0], "en")
    with torch.no_grad():
        states = model.encoder(tokens[None], return_all_hiddens=True, src_lang_id=torch.tensor([0]))["encoder_states"]
    manual = torch.stack([s[1:-1, 0].mean(0) for s in states])  # without <s> and </s>
    assert torch.allclose(single[:, 0], manual, atol=1e-5)


def test_word_vectors_skip_punctuation_pieces(corpus):
    model = load_model(str(corpus["checkpoints"]["mono_en"]))
    (sentence,) = encode_words(model, ['"Hello, world!" ...'], "en")
    assert sentence.words == ["hello", "world", None]
    pieces = [model.vocab.dictionary[int(sentence.tokens[p])] for p in sentence.subwords[1]]
    assert pieces and not any(p.strip("▁") in {"!", '"', "!\""} for p in pieces)


def test_random_encoder_has_the_architecture_but_not_the_weights(corpus):
    path = str(corpus["checkpoints"]["mono_ru"])
    trained, random = load_model(path), load_model(path, random_seed=3)
    assert random.langs == trained.langs == ["ru"]
    shapes = lambda m: {k: v.shape for k, v in m.encoder.state_dict().items()}  # noqa: E731
    assert shapes(random) == shapes(trained)
    assert not torch.equal(random.encoder.layers[0].fc1.weight, trained.encoder.layers[0].fc1.weight)
    assert torch.equal(load_model(path, random_seed=3).encoder.layers[0].fc1.weight, random.encoder.layers[0].fc1.weight)


# ---------------------------------------------------------------------- bad input


def test_parallel_files_of_different_lengths_are_refused(tmp_path):
    (tmp_path / "ru-en.ru").write_text("а\nб\nв\n", encoding="utf-8")
    (tmp_path / "ru-en.en").write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"ru-en\.ru has 3 lines but .*ru-en\.en has 2"):
        data.read_parallel(tmp_path / "ru-en.ru", tmp_path / "ru-en.en")
    (tmp_path / "ru-en.en").write_text("a\n\nc\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"ru-en\.en:2: empty line"):
        data.read_parallel(tmp_path / "ru-en.ru", tmp_path / "ru-en.en")
    with pytest.raises(FileNotFoundError, match="missing.ru"):
        data.read_parallel(tmp_path / "missing.ru", tmp_path / "ru-en.en")


def test_monolingual_text_skips_document_breaks(tmp_path):
    path = tmp_path / "en.train"
    path.write_text("one\ntwo\n\nthree\n", encoding="utf-8")
    assert data.read_text(path) == ["one", "two", "three"] and data.read_text(path, limit=2) == ["one", "two"]
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="en.train holds no text"):
        data.read_text(path)


def test_muse_split_by_english_frequency():
    pairs = [("the", "le"), ("cat", "chat"), ("cat", "félin"), ("dog", "chien"), ("rare", "rare"), ("absent", "absent")]
    frequency = {"the": 50, "cat": 9, "dog": 7, "rare": 1}
    seed, test = frequency_split(pairs, frequency, seed_words=2, test_words=1)
    assert seed == [("the", "le"), ("cat", "chat"), ("cat", "félin")] and test == [("dog", "chien")]


def test_malformed_dictionary_lines_are_named(tmp_path):
    path = tmp_path / "en-ru.train.txt"
    path.write_text("cat кот\ndog\tсобака\n\nhouse дом здание\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"en-ru\.train\.txt:4: expected 'source_word target_word'"):
        data.read_dictionary(path)
    path.write_text("cat кот\ndog\tсобака\n\n", encoding="utf-8")
    assert data.read_dictionary(path) == [("cat", "кот"), ("dog", "собака")]


def test_config_errors_name_the_option(tmp_path, corpus):
    config = write_config(tmp_path / "a.yaml", corpus, tmp_path / "out")
    good = yaml.safe_load(config.read_text())
    for index, english, error in (
        (1, "nope:en", r"comparisons\[ru/bilingual\]: model 'nope' is not under 'models'"),
        (0, "mono_en", r"comparisons\[ru/monolingual\]\.english: 'mono_en' is not MODEL:LANG"),
    ):
        bad = yaml.safe_load(config.read_text())
        bad["comparisons"][index]["english"] = english
        config.write_text(yaml.safe_dump(bad))
        with pytest.raises(ValueError, match=error):
            load_config(str(config))
    config.write_text(yaml.safe_dump(good))
    with pytest.raises(ValueError, match=r"bli.text: no monolingual text for 'en2'"):
        load_config(str(config), ["bli.pairs=[ru,en2]"])
    with pytest.raises(ValueError, match=r"retrieval.comparisons: pair 'ru' has no comparison 'typo'"):
        load_config(str(config), ["retrieval.comparisons=[typo]"]).selected("retrieval", ["ru"], ["typo"])


def test_contextual_word_translation_recovers_a_known_rotation(corpus):
    """Contextual word averages of one model over two halves of its text, the second half's
    space rotated at random: the toolkit's map must find every word again, and no map finds none."""
    from fairseq_ext.analysis import bli
    from fairseq_ext.analysis.representations import encode_words
    from fairseq_ext.transfer.model import load_pretrained

    model = load_pretrained(str(corpus["checkpoints"]["mono_en"]))
    lines = open(corpus["text"]["en"], encoding="utf-8").read().splitlines()
    halves = [encode_words(model, part, "en") for part in (lines[::2], lines[1::2])]
    words = [bli.frequent_words(encoded, 400, 3) for encoded in halves]
    common = [w for w in words[0] if w in set(words[1])]
    assert len(common) >= 120
    train, test = [(w, w) for w in common[:80]], [(w, w) for w in common[80:]]
    source = bli.contextual_spaces(model, halves[0], "en", words[0], 32, "cpu")[-1]
    target = bli.contextual_spaces(model, halves[1], "en", words[1], 32, "cpu")[-1]
    dim = target.vectors.shape[1]
    rotation, _ = torch.linalg.qr(torch.randn(dim, dim, generator=torch.Generator().manual_seed(0)))
    rotated = bli.WordSpace(target.words, target.vectors @ rotation)
    result = bli.translate(source, rotated, bli.index_dictionary(source, rotated, train, test, "halves"), ["csls"], 10)
    assert result["aligned_csls_p@1"] > 0.8 and result["unaligned_csls_p@1"] < 0.1, result
