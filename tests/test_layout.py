"""The parameter layout (fairseq_ext.models.layout) names exactly what the built encoder runs,
for the model, the freezing rule and the Hugging Face export alike."""

from collections import Counter
from pathlib import Path

import pytest
import torch

from helpers import USER_DIR, build_task_and_model

from xling import settings
from fairseq_ext.export_hf.weights import XlingCheckpoint
from fairseq_ext.models.layout import ParameterLayout

SETTINGS = {
    **{name: settings.get(name).model_flags() for name in ("default", "sep_emb", "sep_l1_3", "sep_emb_l1_6")},
    "sep_l1_3_language_vectors": [*settings.get("sep_l1_3").model_flags(), "--language-embeddings"],
}


def build(data, langs, flags):
    return build_task_and_model(
        [str(data), "--user-dir", USER_DIR, "--task", "xling_mlm", "--langs", langs,
         "--arch", "xling_tiny", "--tokens-per-sample", "32", *flags]
    )


def under(names, prefixes):
    return {name for name in names if any(name.startswith(prefix + ".") for prefix in prefixes)}


@pytest.mark.parametrize("langs", ["en,fr", "en,fr,de"])
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_every_parameter_is_shared_or_owned_by_one_language(trilingual_data, setting, langs):
    flags = SETTINGS[setting]
    _, model = build(trilingual_data, langs, flags)
    model.eval()
    encoder, n = model.encoder.sentence_encoder, len(langs.split(","))
    layout = encoder.layout
    params = dict(encoder.named_parameters())
    for lang in range(n):
        for name in layout.used_by(lang):
            assert under(params, [name]), f"{name} names no parameters of the encoder"
    own = [under(params, layout.own(lang)) for lang in range(n)]
    owners = Counter(name for names in own for name in names)
    assert set(owners.values()) <= {1}, "a parameter owned by two languages"
    shared = set(params) - set(owners)

    # how much is separated, counted without the layout
    k = int(flags[flags.index("--lang-specific-layers") + 1]) if "--lang-specific-layers" in flags else 0
    tables = encoder.embed_tokens.weight.numel() + encoder.embed_positions.weight.numel()
    layer = sum(p.numel() for p in encoder.layers[0].parameters())
    per_lang = ("--lang-specific-embeddings" in flags) * tables + k * layer
    assert [sum(params[name].numel() for name in names) for names in own] == [per_lang] * n
    vectors = {"embed_langs.weight"} if "--language-embeddings" in flags else set()
    assert under(params, layout.language_specific()) == set(owners) | vectors

    # the truth: a batch of a language trains the shared parameters and its own, no other's
    tokens = torch.tensor([[0, 10, 11, 12, 2]])
    for lang in range(n):
        encoder.zero_grad(set_to_none=True)
        encoder(tokens, src_lang_id=torch.tensor([lang]))["encoder_out"][0].sum().backward()
        reached = {name for name, p in params.items() if p.grad is not None}
        assert reached == shared | own[lang]
        assert under(params, layout.used_by(lang)) <= reached
        unused = {id(p) for p in encoder.parameters_unused_by(lang)}
        assert {name for name, p in params.items() if id(p) in unused} == set(params) - reached

    # the export reads the same tensors from a state dict, without the model
    ckpt = XlingCheckpoint(Path("model.pt"), model.state_dict(), "xling_tiny", model.args, langs.split(","), "", 0)
    for lang in range(n):
        weights = ckpt.hf_state_dict(lang)
        same = lambda hf, p: weights[hf].data_ptr() == p.data_ptr()  # noqa: E731
        assert same("roberta.embeddings.word_embeddings.weight", encoder.embed_tokens_for(lang).weight)
        assert same("roberta.embeddings.position_embeddings.weight", encoder.embed_positions_for(lang).weight)
        for i, layer in enumerate(encoder.layers_for(lang)):
            assert same(f"roberta.encoder.layer.{i}.intermediate.dense.weight", layer.fc1.weight)
            assert same(f"roberta.encoder.layer.{i}.attention.self.query.bias", layer.self_attn.q_proj.bias)


def test_what_no_model_has_is_refused(trilingual_data):
    layout = ParameterLayout(num_langs=3, num_layers=8, lang_specific_embeddings=True, lang_specific_layers=3)
    with pytest.raises(ValueError, match=r"language 3 is out of range: the model has 3 languages, ids 0\.\.2"):
        layout.token_table(3)
    with pytest.raises(ValueError, match="language -1 is out of range"):
        layout.layer(-1, 0)
    with pytest.raises(ValueError, match=r"layer 8 is out of range: the model has layers 0\.\.7"):
        layout.layer(1, 8)
    with pytest.raises(ValueError, match="layers 1..8 of 8"):
        ParameterLayout(num_langs=2, num_layers=8, lang_specific_layers=8)
    _, model = build(trilingual_data, "en,fr", SETTINGS["sep_emb"])
    with pytest.raises(ValueError, match=r"language 2 is out of range: the model has 2 languages, ids 0\.\.1"):
        model.encoder.sentence_encoder.embed_tokens_for(2)


def test_the_freezing_names():
    """Layers 1..k of every language, and all embeddings: a shared module once, a copy per language."""
    layout = ParameterLayout(num_langs=3, num_layers=8, lang_specific_embeddings=True, lang_specific_layers=2)
    assert layout.lower_layers(3) == [
        "layers.0", "extra_lower_layers.0.0", "extra_lower_layers.1.0",
        "layers.1", "extra_lower_layers.0.1", "extra_lower_layers.1.1", "layers.2",
    ]
    assert layout.lower_layers(20) == layout.lower_layers(8), "k beyond the layers freezes them all, as a slice"
    assert layout.embeddings() == [
        "embed_tokens", "embed_positions", "extra_embed_tokens.0", "extra_embed_positions.0",
        "extra_embed_tokens.1", "extra_embed_positions.1",
    ]
    assert ParameterLayout(num_langs=3, num_layers=8).embeddings() == ["embed_tokens", "embed_positions"]
    assert ParameterLayout(num_langs=3, num_layers=8).language_specific() == []


def test_the_unused_parameters_are_collected_once_and_follow_conversions(trilingual_data, monkeypatch):
    _, model = build(trilingual_data, "en,fr,de", SETTINGS["sep_emb_l1_6"])
    encoder = model.encoder.sentence_encoder
    calls = Counter()
    original = ParameterLayout.unused_by

    def counted(self, lang):
        calls[lang] += 1
        return original(self, lang)

    monkeypatch.setattr(ParameterLayout, "unused_by", counted)
    first = encoder.parameters_unused_by(1)
    assert all(a is b for a, b in zip(encoder.parameters_unused_by(1), first)) and calls == {1: 1}
    # freezing after the first step (fine-tuning does) is seen
    encoder.submodule(encoder.layout.layer(2, 0)).requires_grad_(False)
    frozen = {id(p) for p in encoder.submodule(encoder.layout.layer(2, 0)).parameters()}
    assert len(encoder.parameters_unused_by(1)) == len(first) - len(frozen)
    assert not frozen & {id(p) for p in encoder.parameters_unused_by(1)}
    encoder.requires_grad_(True)

    def check(dtype):
        unused = encoder.parameters_unused_by(1)
        current = {id(p) for p in encoder.parameters()}
        assert len(unused) == len(first) and all(id(p) in current and p.dtype == dtype for p in unused)

    model.half()  # torch keeps the Parameter objects ...
    check(torch.float16)
    model.to(torch.bfloat16)
    check(torch.bfloat16)
    overwrite = torch.__future__.get_overwrite_module_params_on_conversion()
    torch.__future__.set_overwrite_module_params_on_conversion(True)  # ... unless told to replace them
    try:
        model.float()
    finally:
        torch.__future__.set_overwrite_module_params_on_conversion(overwrite)
    check(torch.float32)
