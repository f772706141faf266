"""Structure of the xling_roberta model: what is shared, what is separate, what is refused."""

import pytest
import torch

from helpers import USER_DIR, build_task_and_model


def build(data, langs="en,fr,de", *flags):
    return build_task_and_model(
        [str(data), "--user-dir", USER_DIR, "--task", "xling_mlm", "--langs", langs,
         "--arch", "xling_tiny", "--tokens-per-sample", "32", *flags]
    )


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_sep_emb_adds_one_token_and_position_table_per_extra_language(trilingual_data):
    _, shared = build(trilingual_data)
    task, sep = build(trilingual_data, "en,fr,de", "--lang-specific-embeddings")
    enc = sep.encoder.sentence_encoder
    vocab, dim = len(task.source_dictionary), 64
    positions = enc.embed_positions.weight.shape[0]
    assert len(enc.extra_embed_tokens) == 2 and len(enc.extra_embed_positions) == 2
    assert n_params(sep) - n_params(shared) == 2 * (vocab * dim + positions * dim)
    # each language's softmax is tied to its own token table
    tables = {enc.embed_tokens_for(lang).weight.data_ptr() for lang in range(3)}
    assert len(tables) == 3
    assert sep.encoder.lm_head.weight is enc.embed_tokens.weight
    # the transformer layers are all shared
    for lang in (1, 2):
        assert all(a is b for a, b in zip(enc.layers_for(lang), enc.layers_for(0)))


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
    assert outputs[0].shape == (2, 5, len(task.source_dictionary))
    assert not torch.allclose(outputs[0], outputs[1]) and not torch.allclose(outputs[1], outputs[2])
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
