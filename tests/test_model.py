"""Structure of the xling_roberta model: what is shared, what is separate, what is refused."""

import math
import shutil

import pytest
import torch

from helpers import USER_DIR, build_task_and_model, tiny_train_args, train, training_ids


def build(data, langs="en,fr,de", *flags):
    return build_task_and_model(
        [str(data), "--user-dir", USER_DIR, "--task", "xling_mlm", "--langs", langs,
         "--arch", "xling_tiny", "--tokens-per-sample", "32", *flags]
    )


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def own_ids(task, lang):
    """Read from the binarized data, not through the task: the special symbols, the ids in
    the language's training text, and <mask>."""
    d = task.source_dictionary
    return sorted({*range(d.nspecial), *training_ids(task, lang), len(d) - 1})


@pytest.mark.parametrize("data, langs", [("bilingual_data", "en,fr"), ("five_language_data", "en,fr,de,ru,zh")])
def test_sep_emb_tables_cover_each_languages_own_vocabulary(request, data, langs):
    data = request.getfixturevalue(data)
    _, shared = build(data, langs)
    task, sep = build(data, langs, "--lang-specific-embeddings")
    enc = sep.encoder.sentence_encoder
    num_langs, dim = len(task.langs), 64
    sizes = [len(own_ids(task, lang)) for lang in task.langs]
    assert len(task.source_dictionary) < sum(sizes) < num_langs * len(task.source_dictionary)
    positions = enc.embed_positions.weight.shape[0] * dim
    tables = sum(enc.embed_tokens_for(lang).weight.numel() for lang in range(num_langs))
    assert tables == sum(sizes) * dim
    # exactly: the shared model's one table over the dictionary becomes the languages' own
    # tables, and every language but the first gets its position table
    expected = n_params(shared) - len(task.source_dictionary) * dim + sum(sizes) * dim + (num_langs - 1) * positions
    assert n_params(sep) == expected
    for lang, name in enumerate(task.langs):
        assert enc.vocabulary_for(lang).ids.tolist() == own_ids(task, name)
    # each language's softmax is tied to its own token table
    assert len({enc.embed_tokens_for(lang).weight.data_ptr() for lang in range(num_langs)}) == num_langs
    assert sep.encoder.lm_head.weight is enc.embed_tokens.weight
    # the transformer layers are all shared
    for lang in range(1, num_langs):
        assert all(a is b for a, b in zip(enc.layers_for(lang), enc.layers_for(0)))


def test_sep_emb_reads_dictionary_ids_and_scores_the_languages_own_rows(bilingual_data):
    task, model = build(bilingual_data, "en,fr", "--lang-specific-embeddings")
    model.eval()
    enc, d = model.encoder.sentence_encoder, task.source_dictionary
    fr = enc.vocabulary_for(1)
    en_word, fr_word = d.index("en3"), d.index("fr3")
    tokens = torch.tensor([[0, fr_word, en_word, 2]])
    logits, extra = model(tokens, src_lang_id=torch.tensor([1]))
    assert logits.shape == (1, 4, len(fr))
    # an English id is not French: French reads it as <unk>, and its logits are French rows
    assert fr(tokens).tolist() == [[0, fr.rows[fr_word].item(), d.unk(), 2]]
    assert torch.equal(extra["output_rows"], fr.rows)
    assert fr.ids[extra["output_rows"][fr_word]] == fr_word
    same = model(torch.tensor([[0, fr_word, d.unk(), 2]]), src_lang_id=torch.tensor([1]))[0]
    assert torch.allclose(logits, same)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_sep_layers_adds_exactly_k_layers_per_extra_language(trilingual_data, k):
    _, shared = build(trilingual_data)
    _, sep = build(trilingual_data, "en,fr,de", "--lang-specific-layers", str(k))
    enc = sep.encoder.sentence_encoder
    layer_size = n_params(enc.layers[0])
    assert n_params(sep) - n_params(shared) == 2 * k * layer_size
    for lang in (1, 2):
        lower, upper = enc.layers_for(lang)[:k], enc.layers_for(lang)[k:]
        assert len(lower) == k and len(upper) == 8 - k
        assert all(a is b for a, b in zip(upper, enc.layers_for(0)[k:])), "upper layers shared"
        assert not any(a is b for a, b in zip(lower, enc.layers_for(0)[:k]))
        for a, b in zip(lower, enc.layers_for(0)[:k]):
            assert a.fc1.weight.data_ptr() != b.fc1.weight.data_ptr()
    assert enc.embed_tokens_for(1) is enc.embed_tokens_for(0), "embeddings stay shared"


def test_language_embeddings_add_one_vector_per_language(trilingual_data):
    _, shared = build(trilingual_data)
    _, with_lang = build(trilingual_data, "en,fr,de", "--language-embeddings")
    assert n_params(with_lang) - n_params(shared) == 3 * 64


def test_forward_uses_the_batch_language(trilingual_data):
    task, model = build(trilingual_data, "en,fr,de", "--lang-specific-embeddings",
                        "--lang-specific-layers", "3", "--language-embeddings")
    model.eval()
    tokens = torch.tensor([[0, 10, 11, 12, 2], [0, 13, 14, 15, 2]])
    outputs = [model(tokens, src_lang_id=torch.tensor([lang, lang]))[0] for lang in range(3)]
    vocabulary = model.encoder.sentence_encoder.vocabulary_for
    assert [out.shape for out in outputs] == [(2, 5, len(vocabulary(lang))) for lang in range(3)]
    # the three languages' scores of the same ids differ
    ids = torch.tensor(sorted(set.intersection(*(set(vocabulary(lang).ids.tolist()) for lang in range(3)))))
    scores = [out[..., vocabulary(lang).rows[ids]] for lang, out in enumerate(outputs)]
    assert not torch.allclose(scores[0], scores[1]) and not torch.allclose(scores[1], scores[2])
    with pytest.raises(ValueError, match="mixes languages"):
        model(tokens, src_lang_id=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="src_lang_id"):
        model(tokens)


def test_too_many_language_specific_layers_is_refused(trilingual_data):
    with pytest.raises(ValueError, match="--lang-specific-layers 8"):
        build(trilingual_data, "en,fr,de", "--lang-specific-layers", "8")


def test_language_options_need_two_languages(trilingual_data):
    with pytest.raises(ValueError, match="--lang-specific-embeddings"):
        build(trilingual_data, "en", "--lang-specific-embeddings")


def test_unknown_language_is_named(trilingual_data):
    task, _ = build(trilingual_data, "en,xx")
    with pytest.raises(FileNotFoundError, match="language 'xx'.*--langs"):
        task.load_dataset("valid")


def test_missing_langs_option(trilingual_data):
    with pytest.raises(ValueError, match="--langs"):
        build(trilingual_data, "")


def test_dictionary_that_does_not_match_the_data(trilingual_data, tmp_path):
    """dict.txt shorter than the ids in the data: the error names the dictionary."""
    data = tmp_path / "bin"
    data.mkdir()
    for f in trilingual_data.iterdir():
        (data / f.name).symlink_to(f)
    (data / "dict.txt").unlink()
    lines = (trilingual_data / "dict.txt").read_text().splitlines()
    (data / "dict.txt").write_text("\n".join(lines[:70]) + "\n")  # en and part of fr: ids 0..73 with the 4 specials
    task, _ = build(data, "en,fr")
    with pytest.raises(ValueError, match=r"holds id \d+, but .*dict.txt \(task.data\) defines ids 0..73 only"):
        task.load_dataset("valid")


def initial_loss_and_unigram_entropy(task, model):
    """The masked-LM cross-entropy (nats) of an untrained model on a training batch, and
    that of the training data's unigram distribution on the same targets."""
    from fairseq_ext.models.xling_roberta import training_counts

    task.load_dataset("train")
    batch = next(iter(task.get_batch_iterator(task.dataset("train"), max_sentences=32, seed=1).next_epoch_itr(shuffle=False)))
    targets = batch["target"]
    masked = targets.ne(task.source_dictionary.pad())
    model.eval()
    with torch.no_grad():
        logits, _ = model(**batch["net_input"], masked_tokens=masked)
    loss = torch.nn.functional.cross_entropy(logits.float(), targets[masked]).item()
    counts = torch.from_numpy(training_counts(task)).double() + 1.0
    unigram = -(counts / counts.sum()).log()[targets[masked]].mean().item()
    return loss, unigram


def test_the_output_bias_prior_starts_the_head_at_the_unigram_distribution(bilingual_data):
    torch.manual_seed(1)
    task, zero = build(bilingual_data, "en,fr")
    zero_loss, unigram = initial_loss_and_unigram_entropy(task, zero)
    task, prior = build(bilingual_data, "en,fr", "--output-bias-prior")
    prior_loss, _ = initial_loss_and_unigram_entropy(task, prior)
    uniform = math.log(len(task.source_dictionary))
    assert unigram < uniform - 0.5, "the data must have a skewed unigram distribution to show it"
    # (the random dense layer and token table add small logits of their own)
    assert abs(zero_loss - uniform) < 0.15, (zero_loss, uniform)  # a zero bias: near-uniform
    assert abs(prior_loss - unigram) < 0.15, (prior_loss, unigram)
    assert torch.equal(zero.encoder.lm_head.bias, torch.zeros_like(zero.encoder.lm_head.bias))


def test_a_model_trained_with_the_prior_loads_without_its_training_data(bilingual_data, tmp_path):
    from fairseq import checkpoint_utils

    train(tiny_train_args(bilingual_data, tmp_path / "ckpt", "en,fr", 2, ["--output-bias-prior"]))
    trained = torch.load(tmp_path / "ckpt" / "checkpoint_last.pt", weights_only=False)["model"]
    words_only = tmp_path / "dictionary_only"  # the dictionary, no training text
    words_only.mkdir()
    shutil.copy(bilingual_data / "dict.txt", words_only / "dict.txt")
    (model,), _, _ = checkpoint_utils.load_model_ensemble_and_task(
        [str(tmp_path / "ckpt" / "checkpoint_last.pt")], arg_overrides={"data": str(words_only)})
    assert torch.equal(model.encoder.lm_head.bias, trained["encoder.lm_head.bias"])
    # a new model with the prior does read the training text, and says which file is missing
    with pytest.raises(FileNotFoundError, match="train"):
        build(words_only, "en,fr", "--output-bias-prior")
