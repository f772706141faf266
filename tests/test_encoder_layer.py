"""XlingEncoderLayer computes what fairseq's encoder layer computes, from the same parameters."""

import pytest
import torch
from fairseq.models.transformer import TransformerConfig
from fairseq.modules.transformer_layer import TransformerEncoderLayerBase

from fairseq_ext.models.xling_roberta import XlingEncoderLayer


def layer_config(normalize_before: bool, activation: str = "gelu") -> TransformerConfig:
    cfg = TransformerConfig()
    cfg.encoder.embed_dim, cfg.encoder.ffn_embed_dim, cfg.encoder.attention_heads = 32, 64, 4
    cfg.encoder.normalize_before = normalize_before
    cfg.activation_fn = activation
    cfg.dropout = cfg.attention_dropout = 0.0
    return cfg


def pair(cfg):
    torch.manual_seed(0)
    reference = TransformerEncoderLayerBase(cfg)
    layer = XlingEncoderLayer(cfg)
    layer.load_state_dict(reference.state_dict())  # same names: checkpoints load unchanged
    return reference, layer


def inputs():
    torch.manual_seed(1)
    x = torch.randn(9, 3, 32)  # T x B x C
    pads = torch.zeros(3, 9, dtype=torch.bool)
    pads[1, 6:] = True
    pads[2, 3:] = True
    return x, pads


@pytest.mark.parametrize("normalize_before", [False, True])
@pytest.mark.parametrize("with_pads", [False, True])
def test_outputs_and_gradients_match_fairseq(normalize_before, with_pads):
    reference, layer = pair(layer_config(normalize_before))
    x, pads = inputs()
    mask = pads if with_pads else None
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_a, out_b = reference(xa, mask), layer(xb, mask)
    keep = ~pads.t()[..., None] if with_pads else torch.ones_like(out_a, dtype=torch.bool)
    # outputs at padded positions are not used downstream; compare the real ones
    torch.testing.assert_close(out_b * keep, out_a * keep, atol=1e-5, rtol=1e-5)
    weights = torch.randn_like(out_a) * keep
    (out_a * weights).sum().backward()
    (out_b * weights).sum().backward()
    torch.testing.assert_close(xb.grad, xa.grad, atol=1e-5, rtol=1e-5)
    grads_a = {n: p.grad for n, p in reference.named_parameters()}
    for name, param in layer.named_parameters():
        torch.testing.assert_close(param.grad, grads_a[name], atol=1e-5, rtol=1e-5, msg=name)


def test_fused_attention_kernel_matches_the_cpu_path():
    """The accelerator path (scaled_dot_product_attention) and the CPU path agree."""
    _, layer = pair(layer_config(False))
    x, pads = inputs()
    for mask in (None, pads):
        fused = layer.attention(x, mask, fused_kernel=True)
        plain = layer.attention(x, mask, fused_kernel=False)
        keep = torch.ones_like(plain, dtype=torch.bool) if mask is None else ~mask.t()[..., None]
        torch.testing.assert_close(fused * keep, plain * keep, atol=1e-5, rtol=1e-5)


def test_padding_is_not_attended():
    """Changing what sits at padded positions leaves the real positions' outputs unchanged."""
    _, layer = pair(layer_config(False))
    x, pads = inputs()
    noisy = x.clone()
    noisy[pads.t()] = 100.0
    keep = ~pads.t()[..., None]
    torch.testing.assert_close(layer(noisy, pads) * keep, layer(x, pads) * keep, atol=1e-5, rtol=1e-5)


def test_other_activations_fall_back_to_fairseq():
    reference, layer = pair(layer_config(False, activation="relu"))
    x, pads = inputs()
    torch.testing.assert_close(layer(x, pads), reference(x, pads))


def test_models_use_the_layer(bilingual_data, tmp_path):
    from helpers import build_task_and_model, tiny_train_args

    from fairseq_ext.models.xling_roberta import LanguageAwareTransformerEncoder

    argv = tiny_train_args(bilingual_data, tmp_path, "en,fr", 1, ["--lang-specific-layers", "3"])
    _, model = build_task_and_model(argv)
    encoder = model.encoder.sentence_encoder
    assert isinstance(encoder, LanguageAwareTransformerEncoder)
    layers = [module for module in encoder.modules() if isinstance(module, TransformerEncoderLayerBase)]
    assert len(layers) == 8 + 3 and all(isinstance(layer, XlingEncoderLayer) for layer in layers)
