"""RoBERTa with configurable cross-lingual parameter sharing (the paper's Section 4.3).

Layout of the parameters: the stock RoBERTa modules serve the *first* language of
``--langs``, so a model with nothing separated is exactly fairseq's RoBERTa. Every
further language gets its own copy of what is separated:

- ``--lang-specific-embeddings`` ("Sep Emb"): token and position tables in
  ``sentence_encoder.extra_embed_tokens[l-1]`` / ``extra_embed_positions[l-1]``; the
  output softmax is tied to the language's token table, so it is language-specific too.
  Each language's table (language 0's too) has a row per id of the language's own
  vocabulary only (``LanguageVocabulary``, built from the data by the xling_mlm task):
  inputs are dictionary ids, mapped to the language's rows, and the logits are over those
  rows, so the criterion maps its targets the same way (``output_rows`` in the output).
- ``--lang-specific-layers K`` ("Sep L1-K"): layers 1..K in
  ``sentence_encoder.extra_lower_layers[l-1]``; layers K+1..N stay shared.
- ``--language-embeddings``: an XLM-style learned vector per language added to the input.

The rule lives in ``fairseq_ext.models.layout.ParameterLayout`` (module names per language),
which the encoder resolves to its modules and the Hugging Face export reads a state dict with.

The encoder layers are fairseq's (same modules, same parameter names, so checkpoints and
the Hugging Face export do not change) with a leaner forward, ``XlingEncoderLayer``.
"""

import logging
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from fairseq.models import register_model, register_model_architecture
from fairseq.models.roberta.model import (
    RobertaEncoder,
    RobertaLMHead,
    RobertaModel,
    base_architecture as roberta_base_architecture,
)
from fairseq.distributed import fsdp_wrap
from fairseq.models.transformer import TransformerConfig, TransformerEncoder
from fairseq.modules import PositionalEmbedding
from fairseq.modules.checkpoint_activations import checkpoint_wrapper
from fairseq.modules.transformer_layer import TransformerEncoderLayerBase
from fairseq.modules.transformer_sentence_encoder import init_bert_params
from fairseq.utils import safe_getattr, safe_hasattr
from torch import nn

from fairseq_ext.models.layout import ParameterLayout

logger = logging.getLogger(__name__)


class XlingEncoderLayer(TransformerEncoderLayerBase):
    """fairseq's post- or pre-norm encoder layer, computed in fewer and cheaper kernels.

    Same parameters as fairseq's; the forward differs only where fairseq is slow:
    - q, k and v come from one GEMM over the concatenated projections;
    - attention is two batched GEMMs and a softmax on CPUs (torch's fused CPU attention
      kernels are several times slower at these short streams, most of all in bf16
      backward) and ``scaled_dot_product_attention`` on accelerators;
    - GELU runs in the activations' dtype: fairseq's computes in fp32 with a cast on
      each side, which costs more than the FFN GEMMs on a CPU in bf16.
    Paths this forward does not cover (attention masks, returned FC results, quant
    noise, extra key/value biases) fall back to fairseq's forward.
    """

    def forward(self, x, encoder_padding_mask=None, attn_mask=None):
        attn = self.self_attn
        if (attn_mask is not None or self.return_fc or self.quant_noise > 0
                or attn.bias_k is not None or attn.add_zero_attn or self.cfg.activation_fn != "gelu"):
            return super().forward(x, encoder_padding_mask, attn_mask)
        residual = x
        if self.normalize_before:
            x = self.self_attn_layer_norm(x)
        x = self.dropout_module(self.attention(x, encoder_padding_mask))
        x = residual + x
        if not self.normalize_before:
            x = self.self_attn_layer_norm(x)
        residual = x
        if self.normalize_before:
            x = self.final_layer_norm(x)
        x = self.activation_dropout_module(F.gelu(self.fc1(x)))
        x = self.dropout_module(self.fc2(x))
        x = residual + x
        if not self.normalize_before:
            x = self.final_layer_norm(x)
        return x

    def attention(self, x, padding_mask=None, fused_kernel=None):
        """Self-attention of ``x`` (T x B x C); ``padding_mask`` (B x T) is True at pads."""
        attn = self.self_attn
        length, batch, dim = x.shape
        heads = attn.num_heads
        # the query's scaling is folded into its projection (C x C numbers, not T x B x C)
        weight = torch.cat([attn.q_proj.weight * attn.scaling, attn.k_proj.weight, attn.v_proj.weight])
        bias = torch.cat([attn.q_proj.bias * attn.scaling, attn.k_proj.bias, attn.v_proj.bias])
        # T x B x 3C -> 3 x B x H x T x C/H
        q, k, v = F.linear(x, weight, bias).view(length, batch, 3, heads, dim // heads).permute(2, 1, 3, 0, 4)
        dropout = attn.dropout_module.p if self.training else 0.0
        mask = None if padding_mask is None else padding_mask[:, None, None, :]
        if fused_kernel is None:
            fused_kernel = x.device.type != "cpu"
        if fused_kernel:
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=None if mask is None else ~mask, dropout_p=dropout, scale=1.0
            )
        else:
            # the batched GEMMs read a contiguous B x H x T x C/H in place; given the strided
            # view, they copy k transposed element by element (a fifth of the attention's time)
            q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
            scores = torch.matmul(q, k.transpose(-1, -2))
            if mask is not None:
                scores = scores.masked_fill(mask, float("-inf"))
            probs = F.dropout(scores.softmax(dim=-1), p=dropout)
            out = torch.matmul(probs, v)
        out = out.permute(2, 0, 1, 3).reshape(length, batch, dim)  # B x H x T x C/H -> T x B x C
        return attn.out_proj(out)


def _data_parallel() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class _ZeroGradients(torch.autograd.Function):
    """Identity on ``x`` whose backward also gives each of ``params`` a zero gradient.

    torch's DistributedDataParallel without ``find_unused_parameters`` (a graph walk every
    step) waits for every parameter's gradient: another language's get zeros, as
    ``legacy_ddp`` fills them in. Made, not computed as ``0 * p.sum()``, they stay zero
    (not NaN) whatever a parameter holds.
    """

    @staticmethod
    def forward(ctx, x, *params):
        ctx.like = [(p.shape, p.dtype, p.device) for p in params]
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return (grad, *(torch.zeros(shape, dtype=dtype, device=device) for shape, dtype, device in ctx.like))


class LanguageVocabulary(nn.Module):
    """One language's own vocabulary inside the shared dictionary, as two maps.

    ``ids``: row of the language's token table -> dictionary id (ascending; the special
    symbols first, so ``<s> <pad> </s> <unk>`` keep their ids, and ``<mask>`` last).
    ``rows``: dictionary id -> row, ``<unk>``'s row for an id the language does not have.
    Both are buffers: a checkpoint carries them, and a model loaded from it needs no data.
    """

    def __init__(self, ids: torch.Tensor, dictionary_size: int, unk: int):
        super().__init__()
        ids = torch.as_tensor(ids, dtype=torch.long)
        specials = torch.arange(unk + 1)
        if len(ids) <= unk or not torch.equal(ids[: unk + 1], specials) or not bool((ids[1:] > ids[:-1]).all()):
            raise ValueError(
                f"a language vocabulary lists ascending dictionary ids, the special symbols 0..{unk} first"
            )
        if ids[-1] >= dictionary_size:
            raise ValueError(f"a language vocabulary holds id {ids[-1]}, past the dictionary's {dictionary_size} ids")
        rows = torch.full((dictionary_size,), unk, dtype=torch.long)
        rows[ids] = torch.arange(len(ids))
        self.register_buffer("ids", ids)
        self.register_buffer("rows", rows)

    @classmethod
    def of_size(cls, size: int, dictionary_size: int, unk: int) -> "LanguageVocabulary":
        """Room for a vocabulary of ``size`` ids, which loading a checkpoint fills in."""
        return cls(torch.arange(size), dictionary_size, unk)

    def __len__(self) -> int:
        return len(self.ids)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.rows[tokens]


class LanguageAwareTransformerEncoder(TransformerEncoder):
    """fairseq's TransformerEncoder with per-language embeddings and lower layers."""

    def __init__(self, args, dictionary, embed_tokens, num_langs: int, vocabularies=None):
        super().__init__(args, dictionary, embed_tokens)
        # the modules below are built where the layout's names point
        self.layout = ParameterLayout.from_args(args, num_langs, num_layers=len(self.layers))
        self._unused: Dict[int, List[nn.Parameter]] = {}  # parameters_unused_by, per language
        extra_langs = range(num_langs - 1)
        dim = embed_tokens.embedding_dim

        self.extra_embed_tokens = nn.ModuleList()
        self.extra_embed_positions = nn.ModuleList()
        self.vocabularies = nn.ModuleList(vocabularies or [])
        if self.lang_specific_embeddings:
            if len(self.vocabularies) != num_langs:
                raise ValueError(f"--lang-specific-embeddings needs {num_langs} language vocabularies")
            for lang in range(1, num_langs):
                self.extra_embed_tokens.append(nn.Embedding(len(self.vocabularies[lang]), dim, self.padding_idx))
                if self.embed_positions is not None:
                    self.extra_embed_positions.append(
                        PositionalEmbedding(
                            self.max_source_positions,
                            dim,
                            self.padding_idx,
                            learned=self.cfg.encoder.learned_pos,
                        )
                    )
        # built by the same factory as the shared layers, so activation checkpointing
        # and FSDP wrapping apply to them too
        self.extra_lower_layers = nn.ModuleList(
            nn.ModuleList(self.build_encoder_layer(self.cfg) for _ in range(self.lang_specific_layers))
            for _ in extra_langs
        )
        self.embed_langs = nn.Embedding(num_langs, dim) if args.language_embeddings else None

    def build_encoder_layer(self, args):
        # fairseq's factory with the layer class swapped (and its wrappers kept)
        cfg = TransformerConfig.from_namespace(args)
        layer = XlingEncoderLayer(cfg)
        if cfg.checkpoint_activations:
            layer = checkpoint_wrapper(layer, offload_to_cpu=cfg.offload_activations)
        return fsdp_wrap(layer, min_num_params=0 if cfg.checkpoint_activations else cfg.min_params_to_wrap)

    @property
    def num_langs(self) -> int:
        return self.layout.num_langs

    @property
    def lang_specific_embeddings(self) -> bool:
        return self.layout.lang_specific_embeddings

    @property
    def lang_specific_layers(self) -> int:
        return self.layout.lang_specific_layers

    @property
    def has_lang_specific_parts(self) -> bool:
        return self.layout.has_lang_specific_parts

    def submodule(self, name: str) -> Optional[nn.Module]:
        """The module at a layout name (``extra_lower_layers.0.2``); None where the encoder has
        none (no final LayerNorm, no language vectors)."""
        module = self
        for part in name.split("."):
            module = getattr(module, part)  # a ModuleList's children are attributes "0", "1", ...
            if module is None:
                return None
        return module

    def embed_tokens_for(self, lang: int) -> nn.Embedding:
        """Language ``lang``'s token table: its rows are ``vocabulary_for(lang)``'s (with Sep
        Emb) or the dictionary's ids."""
        return self.submodule(self.layout.token_table(lang))

    def vocabulary_for(self, lang: int) -> Optional[LanguageVocabulary]:
        name = self.layout.vocabulary(lang)
        return None if name is None else self.submodule(name)

    def token_rows(self, tokens: torch.Tensor, lang: int) -> torch.Tensor:
        """Dictionary ids as rows of ``lang``'s token table (and of its logits)."""
        vocabulary = self.vocabulary_for(lang)
        return tokens if vocabulary is None else vocabulary(tokens)

    def token_vectors(self, tokens: torch.Tensor, lang: int) -> torch.Tensor:
        """The input embeddings of dictionary ids ``tokens`` in language ``lang``."""
        return self.embed_tokens_for(lang)(self.token_rows(tokens, lang))

    @property
    def dictionary_size(self) -> int:
        """The ids the model reads: the dictionary it was trained with, ``<mask>`` included."""
        if self.vocabularies:
            return self.vocabularies[0].rows.numel()
        return self.embed_tokens.num_embeddings

    def embed_positions_for(self, lang: int):
        name = self.layout.position_table(lang)
        return None if name is None else self.submodule(name)

    def layers_for(self, lang: int) -> List[nn.Module]:
        return [self.submodule(name) for name in self.layout.layers(lang)]

    def batch_language(self, src_lang_id, lang: Optional[int] = None) -> int:
        """The single language of a batch; language-specific modules are chosen on the host.

        ``lang`` is the batch's language as the host knows it (the xling_mlm task sends it
        with every batch); without it, ``src_lang_id`` is read back from the device.
        """
        if not self.has_lang_specific_parts:
            return 0
        if lang is None:
            if src_lang_id is None:
                raise ValueError(
                    "this model has language-specific parameters: pass src_lang_id "
                    "(one language id per sentence, the index of its language in --langs)"
                )
            low, high = torch.stack(torch.aminmax(src_lang_id)).tolist()  # one host sync
            if low != high:
                raise ValueError(
                    f"a batch mixes languages {low}..{high}; language-specific parameters need "
                    "one language per batch (the xling_mlm task batches that way)"
                )
            lang = low
        if not 0 <= lang < self.num_langs:
            raise ValueError(f"language id {lang} is out of range for {self.num_langs} languages")
        return lang

    def parameters_unused_by(self, lang: int) -> List[nn.Parameter]:
        """The trainable language-specific parameters that a batch of language ``lang`` leaves out."""
        # Asked on every DDP forward: the parameters are collected once per language. A
        # dtype or device conversion (``_apply``) and loading with assign=True may replace
        # them and clear this; requires_grad is read each time, as freezing may come later.
        unused = self._unused.get(lang)
        if unused is None:
            layout = self.layout
            used = {id(p) for name in layout.used_by(lang) for p in self.submodule(name).parameters()}
            unused = {
                id(p): p
                for name in layout.unused_by(lang)
                for p in self.submodule(name).parameters()
                if id(p) not in used
            }
            unused = self._unused[lang] = list(unused.values())
        return [p for p in unused if p.requires_grad]

    def _apply(self, fn, *args, **kwargs):
        # .to() / .half() / .cuda() keep the Parameter objects by default, but not with
        # torch.__future__.set_overwrite_module_params_on_conversion(True)
        self.__dict__.get("_unused", {}).clear()  # absent while fairseq's __init__ runs
        return super()._apply(fn, *args, **kwargs)

    def _load_from_state_dict(self, *args, **kwargs):
        self.__dict__.get("_unused", {}).clear()  # load_state_dict(assign=True) puts new Parameters in place
        return super()._load_from_state_dict(*args, **kwargs)

    def forward_embedding(self, src_tokens, token_embedding=None, lang: int = 0, src_lang_id=None):
        if token_embedding is None:
            token_embedding = self.token_vectors(src_tokens, lang)
        x = embed = self.embed_scale * token_embedding
        positions = self.embed_positions_for(lang)
        if positions is not None:
            x = x + positions(src_tokens)
        if self.embed_langs is not None:
            if src_lang_id is None:
                raise ValueError("a model with --language-embeddings needs src_lang_id")
            x = x + self.embed_langs(src_lang_id).unsqueeze(1)
        if self.layernorm_embedding is not None:
            x = self.layernorm_embedding(x)
        x = self.dropout_module(x)
        if self.quant_noise is not None:
            x = self.quant_noise(x)
        return x, embed

    def forward(
        self,
        src_tokens,
        src_lengths=None,
        return_all_hiddens: bool = False,
        token_embeddings=None,
        src_lang_id=None,
        lang: Optional[int] = None,
        has_pads: Optional[bool] = None,
    ):
        lang = self.batch_language(src_lang_id, lang)
        padding_mask = src_tokens.eq(self.padding_idx)
        if has_pads is None:  # the caller cannot tell from host-side sizes: ask the device
            has_pads = bool(padding_mask.any())

        x, embedding = self.forward_embedding(src_tokens, token_embeddings, lang, src_lang_id)
        if has_pads:
            x = x * (1 - padding_mask.unsqueeze(-1).type_as(x))
        x = x.transpose(0, 1)  # B x T x C -> T x B x C

        states = [x] if return_all_hiddens else []
        for layer in self.layers_for(lang):
            x = layer(x, encoder_padding_mask=padding_mask if has_pads else None)
            if return_all_hiddens:
                states.append(x)
        if torch.is_grad_enabled() and _data_parallel():  # torch's DDP waits for every gradient
            unused = self.parameters_unused_by(lang)
            if unused:
                x = _ZeroGradients.apply(x, *unused)
        if self.layer_norm is not None:
            x = self.layer_norm(x)

        return {
            "encoder_out": [x],  # T x B x C
            "encoder_padding_mask": [padding_mask],  # B x T
            "encoder_embedding": [embedding],  # B x T x C
            "encoder_states": states,  # [T x B x C], embeddings first
            "fc_results": [],
            "src_tokens": [],
            "src_lengths": [src_tokens.ne(self.padding_idx).sum(dim=1, dtype=torch.int32).view(-1, 1)],
        }


class LanguageTiedLMHead(RobertaLMHead):
    """RoBERTa's LM head whose output projection can be any language's token table."""

    def __init__(self, embed_dim, output_dim, activation_fn, weight=None):
        super().__init__(embed_dim, output_dim, activation_fn, weight)
        if activation_fn == "gelu":  # in the activations' dtype, as in XlingEncoderLayer
            self.activation_fn = F.gelu

    def forward(self, features, masked_tokens=None, weight=None, ids=None, **kwargs):
        """Logits over the rows of ``weight`` (default: the head's own), whose dictionary ids
        are ``ids`` (default: all), so the bias of each id follows it."""
        if masked_tokens is not None:
            features = features[masked_tokens, :]  # only project what the loss needs
        x = self.layer_norm(self.activation_fn(self.dense(features)))
        bias = self.bias if ids is None else self.bias[ids]
        return F.linear(x, self.weight if weight is None else weight) + bias

    @torch.no_grad()
    def start_at_frequencies(self, counts: np.ndarray) -> None:
        """Set the output bias to the log frequency of each dictionary id (``counts``, one
        per id, add-one smoothed; centred), so that before any update the head predicts
        the unigram distribution: a loss at the unigram entropy rather than at log(size)."""
        if len(counts) != len(self.bias):
            raise ValueError(f"{len(counts)} token counts for an output bias over {len(self.bias)} ids")
        log_frequency = np.log(counts.astype(np.float64) + 1.0)
        self.bias.copy_(torch.from_numpy(log_frequency - log_frequency.mean()))


class XlingRobertaEncoder(RobertaEncoder):
    def __init__(self, args, dictionary, num_langs: int, vocabularies: Optional[List[LanguageVocabulary]] = None):
        # read by build_embedding() and build_encoder(), which RobertaEncoder.__init__ calls
        self.num_langs, self._vocabularies = num_langs, vocabularies
        super().__init__(args, dictionary)
        del self._vocabularies  # the sentence encoder owns them
        self.lang_specific_embeddings = self.sentence_encoder.lang_specific_embeddings

    def build_embedding(self, vocab_size, embedding_dim, padding_idx):
        if self._vocabularies:  # language 0's table covers its own vocabulary
            vocab_size = len(self._vocabularies[0])
        return super().build_embedding(vocab_size, embedding_dim, padding_idx)

    def build_encoder(self, args, dictionary, embed_tokens):
        encoder = LanguageAwareTransformerEncoder(args, dictionary, embed_tokens, self.num_langs, self._vocabularies)
        encoder.apply(init_bert_params)
        return encoder

    def build_lm_head(self, embed_dim, output_dim, activation_fn, weight):
        return LanguageTiedLMHead(embed_dim, output_dim, activation_fn, weight)

    def forward(
        self,
        src_tokens,
        features_only=False,
        return_all_hiddens=False,
        masked_tokens=None,
        src_lang_id=None,
        lang: Optional[int] = None,
        has_pads: Optional[bool] = None,
        **unused,
    ):
        lang = self.sentence_encoder.batch_language(src_lang_id, lang)
        x, extra = self.extract_features(
            src_tokens, return_all_hiddens=return_all_hiddens, src_lang_id=src_lang_id, lang=lang, has_pads=has_pads
        )
        if not features_only:
            x = self.output_layer(x, masked_tokens=masked_tokens, lang=lang)
            vocabulary = self.sentence_encoder.vocabulary_for(lang)
            # the logits' columns are the language's rows: targets (dictionary ids) map through this
            extra["output_rows"] = None if vocabulary is None else vocabulary.rows
        return x, extra

    def extract_features(
        self, src_tokens, return_all_hiddens=False, src_lang_id=None, lang=None, has_pads=None, **kwargs
    ):
        encoder_out = self.sentence_encoder(
            src_tokens,
            return_all_hiddens=return_all_hiddens,
            token_embeddings=kwargs.get("token_embeddings"),
            src_lang_id=src_lang_id,
            lang=lang,
            has_pads=has_pads,
        )
        features = encoder_out["encoder_out"][0].transpose(0, 1)  # T x B x C -> B x T x C
        inner_states = encoder_out["encoder_states"] if return_all_hiddens else None
        return features, {"inner_states": inner_states}

    def output_layer(self, features, masked_tokens=None, lang: int = 0, **unused):
        """Masked-LM logits: over the dictionary, or with Sep Emb over ``lang``'s own vocabulary."""
        if not self.lang_specific_embeddings:
            return self.lm_head(features, masked_tokens)  # the head's own (tied or untied) weight
        encoder = self.sentence_encoder
        weight, ids = encoder.embed_tokens_for(lang).weight, encoder.vocabulary_for(lang).ids
        return self.lm_head(features, masked_tokens, weight=weight, ids=ids)


@register_model("xling_roberta")
class XlingRobertaModel(RobertaModel):
    """RoBERTa whose embeddings and lower layers can be language-specific."""

    @staticmethod
    def add_args(parser):
        RobertaModel.add_args(parser)
        parser.add_argument(
            "--lang-specific-embeddings",
            action="store_true",
            help="separate token and position embeddings (and so a separate tied softmax) "
            "per language: the paper's 'Sep Emb'",
        )
        parser.add_argument(
            "--lang-specific-layers",
            type=int,
            metavar="K",
            help="make Transformer layers 1..K language-specific, keep the others shared "
            "(the paper's 'Sep L1-K'); 0 shares all layers",
        )
        parser.add_argument(
            "--language-embeddings",
            action="store_true",
            help="add an XLM-style learned language vector to every input position",
        )
        parser.add_argument(
            "--output-bias-prior",
            action="store_true",
            help="start the masked-LM head's output bias at the log frequency of each token in the "
            "training data (all languages pooled), not at zero: a small model otherwise spends its "
            "first few hundred updates learning the unigram distribution",
        )

    @classmethod
    def build_model(cls, args, task):
        from omegaconf import OmegaConf

        if OmegaConf.is_config(args):
            OmegaConf.set_struct(args, False)
        xling_base_architecture(args)
        if not safe_hasattr(args, "max_positions"):
            args.max_positions = safe_getattr(args, "tokens_per_sample", None) or task.max_positions()
        num_langs = len(getattr(task, "langs", None) or [None])
        check_sharing_options(args, num_langs)
        vocabularies = language_vocabularies(args, task) if args.lang_specific_embeddings else None
        encoder = XlingRobertaEncoder(args, task.source_dictionary, num_langs, vocabularies)
        if args.output_bias_prior and not safe_getattr(args, "output_bias_prior_set", False):
            encoder.lm_head.start_at_frequencies(training_counts(task))
            # recorded in the options the checkpoint keeps: a model built to load it takes its
            # bias from the checkpoint and does not need the training data
            args.output_bias_prior_set = True
        if OmegaConf.is_config(args):
            OmegaConf.set_struct(args, True)
        return cls(args, encoder)

    def upgrade_state_dict_named(self, state_dict, name):
        super().upgrade_state_dict_named(state_dict, name)
        encoder = self.encoder.sentence_encoder
        if not encoder.lang_specific_embeddings:
            return
        prefix = (name + "." if name else "") + "encoder.sentence_encoder."
        layout = encoder.layout
        if prefix + layout.vocabulary(0) + ".ids" in state_dict:
            return
        # Saved before per-language vocabularies: every token table has a row per dictionary
        # id. Keep each language's own rows (this model's vocabularies, read from the data).
        for lang in range(encoder.num_langs):
            key = prefix + layout.token_table(lang) + ".weight"
            table = state_dict.get(key)
            if table is None or table.shape[0] != encoder.dictionary_size:
                rows = "none" if table is None else table.shape[0]
                raise ValueError(
                    f"the checkpoint's '{key}' has {rows} rows, neither one per language id (it has no "
                    f"'{prefix}{layout.vocabulary(lang)}.ids') nor one per dictionary id "
                    f"({encoder.dictionary_size}): it was not trained with this data folder's dictionary"
                )
            vocabulary = encoder.vocabulary_for(lang)
            state_dict[key] = table[vocabulary.ids]
            for buffer, value in vocabulary.state_dict().items():
                state_dict[f"{prefix}{layout.vocabulary(lang)}.{buffer}"] = value.clone()
        head = (name + "." if name else "") + "encoder.lm_head.weight"
        if head in state_dict:  # tied to language 0's token table
            state_dict[head] = state_dict[prefix + layout.token_table(0) + ".weight"]
        logger.info(
            "converted a checkpoint with whole-dictionary token tables to per-language vocabularies (%s rows)",
            "+".join(str(len(encoder.vocabulary_for(lang))) for lang in range(encoder.num_langs)),
        )


def training_counts(task) -> np.ndarray:
    """How often each dictionary id occurs in the training data, every language pooled
    (``<mask>``, past the data's ids, counts 0)."""
    if not hasattr(task, "token_counts"):
        raise ValueError(f"--output-bias-prior reads the training data's token counts: it needs the xling_mlm task, "
                         f"not {type(task).__name__}")
    counts = np.zeros(len(task.source_dictionary), dtype=np.int64)
    for lang in task.langs:
        found = task.token_counts(lang)
        counts[: len(found)] += found
    return counts


def language_vocabularies(args, task) -> List[LanguageVocabulary]:
    """Each language's own vocabulary, for --lang-specific-embeddings.

    A new model takes them from the data (``task.language_vocabulary``) and records their
    sizes in ``args.lang_vocab_sizes``, which the checkpoint keeps; a model built from a
    checkpoint's options makes room for them, and loading the checkpoint fills them in.
    """
    dictionary = task.source_dictionary
    size, unk = len(dictionary), dictionary.unk()
    sizes = safe_getattr(args, "lang_vocab_sizes", None)
    if sizes:
        if len(sizes) != len(task.langs):
            raise ValueError(f"lang_vocab_sizes {list(sizes)} has not one size per language of {task.langs}")
        return [LanguageVocabulary.of_size(int(n), size, unk) for n in sizes]
    try:
        vocabularies = [LanguageVocabulary(task.language_vocabulary(lang), size, unk) for lang in task.langs]
    except (FileNotFoundError, ValueError) as e:
        raise type(e)(
            f"{e}. --lang-specific-embeddings gives each language a table over its own vocabulary, "
            "read from the training data in task.data (vocab.json and the token counts); a checkpoint "
            "saved before per-language vocabularies (tables over the whole dictionary) is converted from "
            "it when loaded: pass its data folder (e.g. arg_overrides={'data': DIR}, --data DIR)"
        ) from e
    args.lang_vocab_sizes = [len(v) for v in vocabularies]
    return vocabularies


def check_sharing_options(args, num_langs: int) -> None:
    """Reject combinations that cannot be built, naming the option at fault."""
    layers = args.encoder_layers
    separate = args.lang_specific_layers
    if separate < 0 or separate >= layers:
        raise ValueError(
            f"--lang-specific-layers {separate} must be between 0 and --encoder-layers - 1 "
            f"= {layers - 1}: the top layer must stay shared for cross-lingual transfer"
        )
    needs_langs = args.lang_specific_embeddings or separate > 0 or args.language_embeddings
    if needs_langs and num_langs < 2:
        raise ValueError(
            "--lang-specific-embeddings, --lang-specific-layers and --language-embeddings need "
            "a multilingual task (--task xling_mlm --langs with two or more languages)"
        )
    if args.lang_specific_embeddings and args.untie_weights_roberta:
        raise ValueError(
            "--untie-weights-roberta cannot be combined with --lang-specific-embeddings: "
            "the language-specific softmax is tied to each language's embeddings"
        )
    if separate > 0 and (args.encoder_layerdrop > 0 or args.encoder_layers_to_keep):
        raise ValueError(
            "--encoder-layerdrop / --encoder-layers-to-keep cannot be combined with "
            "--lang-specific-layers"
        )


def _default_dims(args, layers: int, embed_dim: int, ffn_dim: int, heads: int) -> None:
    args.encoder_layers = safe_getattr(args, "encoder_layers", layers)
    args.encoder_embed_dim = safe_getattr(args, "encoder_embed_dim", embed_dim)
    args.encoder_ffn_embed_dim = safe_getattr(args, "encoder_ffn_embed_dim", ffn_dim)
    args.encoder_attention_heads = safe_getattr(args, "encoder_attention_heads", heads)


@register_model_architecture("xling_roberta", "xling_roberta")
def xling_base_architecture(args):
    """The paper's model: 8 layers, 768 dims, 12 heads, FFN 3072, GELU, dropout 0.1, tied softmax."""
    _default_dims(args, layers=8, embed_dim=768, ffn_dim=3072, heads=12)
    args.lang_specific_embeddings = safe_getattr(args, "lang_specific_embeddings", False)
    args.lang_specific_layers = safe_getattr(args, "lang_specific_layers", 0)
    args.language_embeddings = safe_getattr(args, "language_embeddings", False)
    args.output_bias_prior = safe_getattr(args, "output_bias_prior", False)
    roberta_base_architecture(args)


@register_model_architecture("xling_roberta", "xling_base")
def xling_base(args):
    xling_base_architecture(args)


@register_model_architecture("xling_roberta", "xling_tiny")
def xling_tiny(args):
    """Small enough for CPU tests and the demo, with the paper's 8 layers so Sep L1-3/L1-6 exist."""
    _default_dims(args, layers=8, embed_dim=64, ffn_dim=256, heads=4)
    xling_base_architecture(args)


@register_model_architecture("xling_roberta", "xling_medium")
def xling_medium(args):
    """8 layers x 512 (FFN 2048, 8 heads): small but real, for a demo of the study on one GPU."""
    _default_dims(args, layers=8, embed_dim=512, ffn_dim=2048, heads=8)
    xling_base_architecture(args)
