"""Zero-shot transfer end to end on a tiny en-fr model pretrained on the fixture text:
the real-format fixture files through the shipped configs and the CLI, the freezing rule,
the target language's own parts at test time, resuming, the grid and Table 1."""

import csv
import json
import random
from pathlib import Path

import pytest
import torch

from fairseq_ext.synthetic import binarize
from fairseq_ext.transfer import finetune as finetune_module
from fairseq_ext.transfer.__main__ import main as cli
from fairseq_ext.transfer.config import load_config
from fairseq_ext.transfer.encoding import collate, encode, encode_text
from fairseq_ext.transfer.examples import ParsedSentence, TaggedSentence
from fairseq_ext.transfer.finetune import finetune, load_finetuned
from fairseq_ext.transfer.formats import read_bio, read_conllu, read_labelled_tsv, read_nli
from fairseq_ext.transfer.grid import run_grid
from fairseq_ext.transfer.heads import BiaffineParserHead, TaggingHead
from fairseq_ext.transfer.model import TransferModel, frozen_modules, load_pretrained
from helpers import SHARING_SETTINGS, build_task_and_model, tiny_train_args, train, train_spm, write_dict

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "transfer"
CONFIGS = REPO / "configs" / "transfer"


def fixture_sentences(lang):
    """The text of the fixture files of one language, as sentences."""
    sentences = []
    nli = read_nli(FIXTURES / "XNLI-1.0/xnli.test.tsv", lang) + read_nli(FIXTURES / "XNLI-1.0/xnli.dev.tsv", lang)
    sentences += [text for example in nli for text in example.texts]
    ner = read_bio(FIXTURES / f"wikiann/{lang}/test", token_prefix=f"{lang}:")
    ud = read_conllu(FIXTURES / ("ud-treebanks-v2.3/" + {"en": "UD_English-EWT/en_ewt-ud-train.conllu",
                                                          "fr": "UD_French-GSD/fr_gsd-ud-test.conllu"}[lang]))
    sentences += [" ".join(sentence.words) for sentence in ner + ud]
    split = "train" if lang == "en" else "test"
    sentences += [e.texts[0] for e in read_labelled_tsv(FIXTURES / f"classification/libreoffice_module/{lang}.{split}.tsv")]
    return sentences


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """{setting: checkpoint} for Default and Sep Emb + L1-3, en-fr, a joint sentencepiece
    vocabulary with vocab.json (the corpus pipeline's contract), 30 updates each."""
    root = tmp_path_factory.mktemp("transfer_pretrained")
    data = root / "data"
    data.mkdir()
    text = {lang: fixture_sentences(lang) for lang in ("en", "fr")}
    sp = train_spm(data / "spm", [line for lines in text.values() for line in lines] * 5, 200)
    write_dict(data / "dict.txt", [sp.id_to_piece(i) for i in range(3, sp.get_piece_size())])
    (data / "vocab.json").write_text(json.dumps(
        {"setting": "joint", "langs": ["en", "fr"], "sentencepiece": {"en": "spm.model", "fr": "spm.model"}}
    ))
    rng = random.Random(0)
    for lang, lines in text.items():
        for split, repeats in (("train", 30), ("valid", 2)):
            shuffled = lines * repeats
            rng.shuffle(shuffled)
            (root / f"{lang}.{split}").write_text(
                "".join(" ".join(sp.encode(line, out_type=str)) + "\n" for line in shuffled), encoding="utf-8"
            )
        binarize(data / "dict.txt", root / f"{lang}.train", root / f"{lang}.valid", data / lang)
    checkpoints = {}
    for setting in ("default", "sep_emb_l1_3"):
        save_dir = root / f"ckpt_{setting}"
        train(tiny_train_args(data, save_dir, "en,fr", 30, SHARING_SETTINGS[setting]))
        checkpoints[setting] = save_dir / "checkpoint_last.pt"
    return checkpoints


def overrides(checkpoint, out_dir, *extra):
    """Settings that make a shipped config run in seconds on the fixtures."""
    return [
        f"model.checkpoint={checkpoint}", "model.name=en-fr", f"data.root={FIXTURES}", f"out_dir={out_dir}",
        "train.epochs=3", "train.batch_size=4", "train.lr=1e-3", "train.examples_per_epoch=null",
        "head.arc_dim=32", "head.relation_dim=16", *extra,
    ]


TASKS = {  # shipped config, extra overrides, the metric keys of a score
    "xnli": ("xnli.yaml", [], {"accuracy"}),
    "ner_wikiann": ("ner_wikiann.yaml", [], {"f1", "precision", "recall"}),
    "parsing": ("parsing.yaml", [], {"las", "uas"}),
    "standin": ("standin_classification.yaml", ["name=libreoffice_module"], {"accuracy"}),
}


@pytest.mark.parametrize("task", list(TASKS))
def test_shipped_config_runs_on_real_format_files(pretrained, tmp_path, task, capsys):
    """Each task's config, through the CLI, on fixture files laid out like the downloads;
    the en-fr model is tested on fr only (the configs also list ru and zh)."""
    config, extra, metric_keys = TASKS[task]
    out = tmp_path / task
    assert cli(["finetune", str(CONFIGS / config), *overrides(pretrained["sep_emb_l1_3"], out), "setting=sep", *extra]) == 0
    result = json.loads((out / "result.json").read_text())
    assert list(result["test"]) == ["fr"]
    for scores in [result["dev"], *result["test"].values()]:
        assert set(scores) == metric_keys and all(0 <= v <= 1 for v in scores.values())
    assert [epoch["epoch"] for epoch in result["history"]] == [1, 2, 3]
    assert result["dev"][result["metric"]] == result["history"][result["best_epoch"] - 1]["dev"][result["metric"]]
    assert not (out / "last.pt").exists() and (out / "best.pt").exists()
    printed = json.loads(capsys.readouterr().out)
    assert printed["test"] == result["test"]


def test_a_model_without_the_target_language_is_refused(pretrained, tmp_path):
    """ner_conll.yaml tests zh only: an en-fr model has nothing to be tested on."""
    cfg = load_config(
        CONFIGS / "ner_conll.yaml",
        overrides(pretrained["default"], tmp_path, "setting=default", f"data.test.zh={FIXTURES}/wikiann/fr/test"),
    )
    with pytest.raises(ValueError, match=r"none of data.test's languages \['zh'\].*\['en', 'fr'\]"):
        finetune(cfg)


TOPICS = {  # label: English and French words that give it away
    "scalc": (["cell", "formula", "column", "sheet", "rows"], ["cellule", "formule", "colonne", "feuille", "lignes"]),
    "swriter": (["font", "paragraph", "text", "page", "size"], ["police", "paragraphe", "texte", "mise", "page"]),
    "simpress": (["slide", "presentation", "layout", "show", "first"], ["diapositive", "ajoutez", "en", "triez", "dans"]),
}
FILLER = (["the", "and", "choose", "select", "of", "a", "in", "to"], ["le", "et", "choisissez", "la", "de", "une", "pour"])


def write_topic_tsv(path, lang_index, n, seed):
    """label<TAB>text lines whose label is given away by two topic words."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        label = rng.choice(sorted(TOPICS))
        words = rng.sample(FILLER[lang_index], 4) + rng.sample(TOPICS[label][lang_index], 2)
        rng.shuffle(words)
        lines.append(f"{label}\t{' '.join(words)}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), encoding="utf-8")


@pytest.fixture(scope="module")
def topic_data(tmp_path_factory):
    """An EVAL folder in the corpus pipeline's layout, with a learnable task."""
    root = tmp_path_factory.mktemp("eval")
    folder = root / "classification" / "topic"
    write_topic_tsv(folder / "en.train.tsv", 0, 120, seed=1)
    write_topic_tsv(folder / "en.dev.tsv", 0, 30, seed=2)
    write_topic_tsv(folder / "fr.test.tsv", 1, 30, seed=3)
    return root


def topic_config(checkpoint, data_root, out_dir, *extra):
    """standin_classification.yaml on the topic task, 5 epochs of batches of 8."""
    return load_config(CONFIGS / "standin_classification.yaml", [
        f"model.checkpoint={checkpoint}", "model.name=en-fr", f"data.root={data_root}", f"out_dir={out_dir}",
        "name=topic", "setting=default", "train.epochs=5", "train.batch_size=8", "train.lr=1e-3", *extra,
    ])


def test_fine_tuning_learns_the_english_task(pretrained, topic_data, tmp_path):
    result = finetune(topic_config(pretrained["default"], topic_data, tmp_path))
    majority = result["majority_baseline"]
    assert majority["dev"] < 0.5
    assert result["dev"]["accuracy"] >= 0.8, result["history"]
    assert set(result["test"]) == {"fr"} and set(majority) == {"dev", "fr"}


def capture_models(monkeypatch):
    """The models finetune() builds, as it trains them (in build order)."""
    built = []

    def build_and_keep(*args, **kwargs):
        built.append(original(*args, **kwargs))
        return built[-1]

    original = finetune_module.build_model
    monkeypatch.setattr(finetune_module, "build_model", build_and_keep)
    return built


def changed(before, model, prefix):
    return any(not torch.equal(before[name], p) for name, p in model.encoder.named_parameters() if name.startswith(prefix))


# setting, overrides, frozen parameter prefixes, prefixes fine-tuning must change
FREEZING = {
    "sep_emb_l1_3": ("sep_emb_l1_3", [], (
        "embed_tokens.", "embed_positions.", "extra_embed_tokens.0.", "extra_embed_positions.0.",
        "layers.0.", "layers.1.", "layers.2.", "extra_lower_layers.0.",
    ), ("layers.3.", "layers.7.", "layernorm_embedding.")),
    "default": ("default", [], (), ("embed_tokens.", "embed_positions.", "layers.0.", "layers.7.")),
    "frozen_lower_layers_and_projector": (
        "default",
        ["model.freeze_layers=2", "model.feature_layer=4", "head.projector_layers=1", "head.projector_heads=4",
         "head.projector_ffn_dim=64"],
        ("embed_tokens.", "embed_positions.", "layernorm_embedding.", "layers.0.", "layers.1.",
         "layers.4.", "layers.5.", "layers.6.", "layers.7."),
        ("layers.2.", "layers.3."),
    ),
}


@pytest.mark.parametrize("case", list(FREEZING))
def test_frozen_parts_do_not_change_during_fine_tuning(pretrained, topic_data, tmp_path, monkeypatch, case):
    setting, extra, frozen_prefixes, trained_prefixes = FREEZING[case]
    before = {k: v.clone() for k, v in load_pretrained(pretrained[setting]).encoder.state_dict().items()}
    models = capture_models(monkeypatch)
    finetune(topic_config(pretrained[setting], topic_data, tmp_path, "train.epochs=2", *extra))
    model = models[0]
    frozen = {name for name, p in model.encoder.named_parameters() if not p.requires_grad}
    assert frozen == {name for name, _ in model.encoder.named_parameters() if name.startswith(frozen_prefixes)}
    for name, p in model.encoder.named_parameters():
        if name in frozen:
            assert torch.equal(before[name], p), f"{name} is frozen but changed"
    for prefix in trained_prefixes:
        assert changed(before, model, prefix), f"{prefix}* should be fine-tuned"
    if model.projector is not None:
        assert all(p.requires_grad for p in model.projector.parameters())
    saved = torch.load(tmp_path / "best.pt")["model"]
    assert not {f"encoder.{name}" for name in frozen} & set(saved), "best.pt holds only what fine-tuning changes"


def test_the_target_language_uses_its_own_embeddings_and_lower_layers(pretrained, tmp_path, monkeypatch):
    """Sep Emb + L1-3, en-fr: English batches (training, dev) go through the stock modules,
    French test batches through fr's own copies, and both through the shared layers."""
    seen = {"en_embeddings": 0, "fr_embeddings": 0, "en_layer1": 0, "fr_layer1": 0, "shared_layer4": 0}

    def count(key, batch_dim):
        def hook(module, inputs, output):
            seen[key] += inputs[0].shape[batch_dim]
        return hook

    original = finetune_module.TransferModel.freeze

    def freeze_and_hook(model, *args):
        encoder = model.encoder  # en is language 0, fr language 1
        encoder.embed_tokens_for(0).register_forward_hook(count("en_embeddings", 0))  # tokens: B x T
        encoder.embed_tokens_for(1).register_forward_hook(count("fr_embeddings", 0))
        encoder.layers_for(0)[0].register_forward_hook(count("en_layer1", 1))  # states: T x B x C
        encoder.layers_for(1)[0].register_forward_hook(count("fr_layer1", 1))
        assert encoder.layers_for(1)[3] is encoder.layers_for(0)[3]
        encoder.layers_for(0)[3].register_forward_hook(count("shared_layer4", 1))
        return original(model, *args)

    monkeypatch.setattr(finetune_module.TransferModel, "freeze", freeze_and_hook)
    config = CONFIGS / "standin_classification.yaml"
    cli(["finetune", str(config), *overrides(pretrained["sep_emb_l1_3"], tmp_path, "train.epochs=2"),
         "setting=sep_emb_l1_3", "name=libreoffice_module"])
    folder = FIXTURES / "classification/libreoffice_module"
    n_train, n_dev = (len(read_labelled_tsv(folder / f"en.{split}.tsv")) for split in ("train", "dev"))
    n_fr = len(read_labelled_tsv(folder / "fr.test.tsv"))
    english = 2 * n_train + 3 * n_dev  # two epochs, dev after each and once more for the result
    assert seen == {"en_embeddings": english, "fr_embeddings": n_fr, "en_layer1": english, "fr_layer1": n_fr,
                    "shared_layer4": english + n_fr}


def test_an_interrupted_run_resumes_to_the_same_result(pretrained, topic_data, tmp_path, monkeypatch):
    whole = finetune(topic_config(pretrained["sep_emb_l1_3"], topic_data, tmp_path / "whole", "train.epochs=3"))

    saves = []
    original_save = finetune_module._Checkpoints.save

    def save_then_stop_after_two_epochs(self, *args):
        original_save(self, *args)
        saves.append(1)
        if len(saves) == 2:
            raise KeyboardInterrupt

    cfg = topic_config(pretrained["sep_emb_l1_3"], topic_data, tmp_path / "resumed", "train.epochs=3")
    monkeypatch.setattr(finetune_module._Checkpoints, "save", save_then_stop_after_two_epochs)
    with pytest.raises(KeyboardInterrupt):
        finetune(cfg)
    assert (tmp_path / "resumed/last.pt").exists() and not (tmp_path / "resumed/result.json").exists()
    monkeypatch.setattr(finetune_module._Checkpoints, "save", original_save)
    resumed = finetune(cfg)

    def comparable(result):
        history = [{k: v for k, v in epoch.items() if k != "train_examples_per_second"} for epoch in result["history"]]
        return result["dev"], result["test"], result["best_epoch"], history

    assert comparable(resumed) == comparable(whole)
    whole_weights, resumed_weights = (torch.load(tmp_path / d / "best.pt")["model"] for d in ("whole", "resumed"))
    assert whole_weights.keys() == resumed_weights.keys()
    assert all(torch.equal(whole_weights[k], resumed_weights[k]) for k in whole_weights)

    # a finished run is not repeated, and its folder is not reused for another configuration
    monkeypatch.setattr(finetune_module, "load_pretrained", lambda *a: pytest.fail("a finished run was repeated"))
    assert finetune(cfg) == resumed
    with pytest.raises(ValueError, match="another configuration"):
        finetune(topic_config(pretrained["sep_emb_l1_3"], topic_data, tmp_path / "resumed", "train.epochs=4"))


def test_a_finished_run_loads_for_prediction(pretrained, topic_data, tmp_path):
    result = finetune(topic_config(pretrained["sep_emb_l1_3"], topic_data, tmp_path, "train.epochs=2"))
    model, loaded, cfg = load_finetuned(tmp_path)
    assert cfg.name == "topic" and loaded.langs == ["en", "fr"]
    examples = read_labelled_tsv(topic_data / "classification/topic/fr.test.tsv")
    encoded = [encode(loaded.vocab, e, "fr", 32) for e in examples]
    batch = collate(encoded, range(len(encoded)), loaded.lang_id("fr"), model.padding_idx)
    with torch.no_grad():
        predictions = model.predict(batch)
    accuracy = sum(p == e.label for p, e in zip(predictions, examples)) / len(examples)
    assert accuracy == pytest.approx(result["test"]["fr"]["accuracy"])


def test_grid_reports_the_best_two_and_table_1_compares_settings(pretrained, topic_data, tmp_path, monkeypatch):
    results = tmp_path / "results"
    grid = ["grid.train.batch_size=[8]", "grid.train.lr=[1e-4,1e-3,3e-3]", "train.epochs=2"]
    summaries = {}
    for setting in ("default", "sep_emb_l1_3"):
        args = [str(CONFIGS / "standin_classification.yaml"), f"model.checkpoint={pretrained[setting]}",
                "model.name=en-fr", f"data.root={topic_data}", "name=topic", f"setting={setting}",
                f"out_dir={results}/{setting}/en-fr/topic", *grid]
        assert cli(["grid", "--point", "1", *args]) == 0  # one point (e.g. a SLURM array task): no summary yet
        assert [p.name for p in (results / setting / "en-fr/topic").iterdir()] == ["batch_size8_lr0.001"]
        assert cli(["grid", *args]) == 0
        summaries[setting] = json.loads((results / setting / "en-fr/topic/summary.json").read_text())

    summary = summaries["sep_emb_l1_3"]
    points = {p["name"]: p for p in summary["points"]}
    assert list(points) == ["batch_size8_lr0.0001", "batch_size8_lr0.001", "batch_size8_lr0.003"]
    best_two = sorted(points.values(), key=lambda p: -p["dev"])[:2]
    assert summary["best_points"] == [p["name"] for p in best_two]
    assert summary["test"]["fr"] == pytest.approx(sum(p["test"]["fr"] for p in best_two) / 2)
    assert summary["dev"] == pytest.approx(sum(p["dev"] for p in best_two) / 2)

    loads = []
    original_load = finetune_module.load_pretrained
    monkeypatch.setattr(finetune_module, "load_pretrained", lambda *a: loads.append(a) or original_load(*a))
    assert run_grid(str(CONFIGS / "standin_classification.yaml"), args[1:]) == summary
    assert not loads, "a rerun skips finished points"
    grown = run_grid(str(CONFIGS / "standin_classification.yaml"), [*args[1:], "grid.train.lr=[1e-4,1e-3,3e-3,1e-2]"])
    assert len(loads) == 1 and len(grown["points"]) == 4, "a grown grid runs only its new point"
    summaries["sep_emb_l1_3"] = grown

    assert cli(["table", str(results)]) == 0
    rows = list(csv.reader((results / "table1.csv").open()))
    assert rows[0] == ["Model", "topic fr", "topic Δ"]
    table = {row[0]: row[1:] for row in rows[1:]}
    assert list(table) == ["Default", "Sep Emb + L1-3", "majority class"]
    default, separated = (100 * summaries[s]["test"]["fr"] for s in ("default", "sep_emb_l1_3"))
    assert table["Default"] == [f"{default:.1f}", "+0.0"]
    assert table["Sep Emb + L1-3"] == [f"{separated:.1f}", f"{separated - default:+.1f}"]
    majority = 100 * summaries["default"]["majority_baseline"]["fr"]
    assert table["majority class"] == [f"{majority:.1f}", f"{majority - default:+.1f}"]
    markdown = (results / "table1.md").read_text().splitlines()
    assert markdown[0] == "| Model | topic fr | topic Δ |" and len(markdown) == 2 + 3


@pytest.mark.parametrize("setting", list(SHARING_SETTINGS))
def test_the_paper_freezes_exactly_the_language_specific_parts(bilingual_data, tmp_path, setting):
    _, model = build_task_and_model(tiny_train_args(bilingual_data, tmp_path, "en,fr", 1, SHARING_SETTINGS[setting]))
    encoder = model.encoder.sentence_encoder
    expected = set()
    if "emb" in setting:
        expected |= {"embed_tokens", "embed_positions", "extra_embed_tokens.0", "extra_embed_positions.0"}
    k = int(setting[-1]) if "l1_" in setting else 0
    expected |= {f"layers.{i}" for i in range(k)} | {f"extra_lower_layers.0.{i}" for i in range(k)}
    frozen = {module for module in frozen_modules(encoder)}
    names = {name for name, module in encoder.named_modules() if module in frozen}
    assert names == expected


def test_features_of_a_chosen_layer(pretrained):
    loaded = load_pretrained(pretrained["sep_emb_l1_3"])
    tokens = loaded.vocab.encode("Le chat dort sur le tapis.", "fr").unsqueeze(0)
    lang = torch.tensor([loaded.lang_id("fr")])
    loaded.encoder.eval()
    with torch.no_grad():
        states = loaded.encoder(tokens, return_all_hiddens=True, src_lang_id=lang)["encoder_states"]
        for layer in (0, 2, 5):
            model = TransferModel(loaded.encoder, torch.nn.Identity(), feature_layer=layer)
            assert torch.equal(model.encode(tokens, lang), states[layer].transpose(0, 1))
    with pytest.raises(ValueError, match="feature_layer 9"):
        TransferModel(loaded.encoder, torch.nn.Identity(), feature_layer=9)


def test_long_inputs_are_cut_to_the_model_length(pretrained):
    vocab = load_pretrained(pretrained["default"]).vocab
    d = vocab.dictionary
    premise, hypothesis = "The cat sleeps on the mat in the garden of the house.", "An animal sleeps."
    full = encode_text(vocab, [premise, hypothesis], "en", 100)
    assert full.tolist().count(d.eos()) == 3, "<s> A </s></s> B </s>"
    cut = encode_text(vocab, [premise, hypothesis], "en", 16)
    hypothesis_ids = vocab.piece_ids(vocab.pieces(hypothesis, "en"))
    assert len(cut) == 16 and cut[0] == d.bos() and cut[-1] == d.eos()
    assert cut[-len(hypothesis_ids) - 1 : -1].tolist() == hypothesis_ids, "the longer text is cut first"

    words = "The cat sleeps on the mat in the garden .".split()
    sentence = ParsedSentence(tuple(words), (2, 3, 0, 6, 6, 3, 9, 9, 6, 3), ("det",) * 10)
    encoded = encode(vocab, sentence, "en", 8)
    assert len(encoded.tokens) == 8 and encoded.tokens[-1] == d.eos()
    n_fit = len(encoded.word_positions)
    assert 0 < n_fit < len(words) and encoded.word_positions.max() < 7 and encoded.word_count == len(words)

    torch.manual_seed(0)
    dim = load_pretrained(pretrained["default"]).encoder.embed_tokens.embedding_dim
    parser = BiaffineParserHead(dim, ["det", "root"], arc_dim=8, relation_dim=4).eval()
    batch = collate([encoded], [0], 0, d.pad())
    heads, relations = parser.predict(torch.randn(1, 8, dim), batch)[0]
    assert len(heads) == len(words) and heads[n_fit:] == [0] * (len(words) - n_fit)
    assert relations[n_fit:] == ["_"] * (len(words) - n_fit)
    assert heads[:n_fit].count(0) == 1 and all(0 <= h <= n_fit for h in heads[:n_fit])

    tagger = TaggingHead(dim, ["O", "B-LOC", "I-LOC"]).eval()
    tagged = encode(vocab, TaggedSentence(tuple(words), ("O",) * 10), "en", 8, tagger.targets)
    tags = tagger.predict(torch.randn(1, 8, dim), collate([tagged], [0], 0, d.pad()))[0]
    assert len(tags) == len(words) and tags[n_fit:] == ["O"] * (len(words) - n_fit)


def test_mean_pooling_ignores_padding_and_first_token_pooling_reads_s():
    from fairseq_ext.transfer.encoding import EncodedExample
    from fairseq_ext.transfer.heads import ClassificationHead

    pad = 1
    short, long = torch.tensor([0, 5, 6, 2]), torch.tensor([0, 5, 6, 7, 8, 9, 2])
    batch = collate([EncodedExample(short), EncodedExample(long)], [0, 1], lang_id=0, pad_id=pad)
    features = torch.randn(2, 7, 4)
    mean = ClassificationHead(4, ["a", "b"], dropout=0.0, pooling="mean").eval()
    expected = torch.stack([features[0, :4].mean(0), features[1].mean(0)])
    assert torch.allclose(mean.logits(features, batch), mean.out(expected), atol=1e-6)
    first = ClassificationHead(4, ["a", "b"], dropout=0.0).eval()
    assert torch.allclose(first.logits(features, batch), first.out(features[:, 0]))
    with pytest.raises(ValueError, match="head.pooling"):
        ClassificationHead(4, ["a"], pooling="max")
