"""An ``xling_roberta`` checkpoint read as a raw state dict, and one language's view of it
as the state dict of a standard ``XLMRobertaForMaskedLM``.

A language's model is what fairseq runs for it: its token and position tables and lower
layers (named by ``fairseq_ext.models.layout``, as the model names them), the shared upper
layers, the shared embedding LayerNorm and LM head, and the LM head's output tied to the
language's token table. With Sep Emb that table covers the language's own vocabulary
(``vocabulary_ids``), so the folder's ids are its rows and the LM head's bias is taken
at the dictionary ids of those rows. The language vector of
``--language-embeddings`` is added to every position before the embedding LayerNorm,
which is what XLM-R's ``token_type_embeddings[0]`` does, so it is stored there.
"""

from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import torch
from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_REGISTRY
from transformers import XLMRobertaConfig

from xling import settings
from fairseq_ext.models.layout import EMBEDDING_NORM, LANGUAGE_VECTORS, ParameterLayout
from fairseq_ext.models.xling_roberta import XlingRobertaModel
from fairseq_ext.tasks.xling_mlm import parse_langs

ENCODER = "encoder.sentence_encoder."  # the layout's names are inside RoBERTa's sentence encoder
# fairseq TransformerEncoderLayer module -> Hugging Face RobertaLayer module
LAYER_MODULES = {
    "self_attn.q_proj": "attention.self.query",
    "self_attn.k_proj": "attention.self.key",
    "self_attn.v_proj": "attention.self.value",
    "self_attn.out_proj": "attention.output.dense",
    "self_attn_layer_norm": "attention.output.LayerNorm",
    "fc1": "intermediate.dense",
    "fc2": "output.dense",
    "final_layer_norm": "output.LayerNorm",
}


def max_tokens(config: XLMRobertaConfig) -> int:
    """fairseq's --max-positions: the position table also has rows for <pad> and the ids below it."""
    return config.max_position_embeddings - config.pad_token_id - 1


@dataclass
class XlingCheckpoint:
    path: Path
    state_dict: Dict[str, torch.Tensor]
    arch: str
    args: Namespace  # the model's options, with its architecture's defaults filled in
    langs: List[str]  # task.langs: a language's index is its id in the model
    data_dir: str  # task.data (its first path)
    num_updates: int

    @classmethod
    def load(cls, path) -> "XlingCheckpoint":
        path = Path(path)
        try:
            # torch's weights_only loading: importing fairseq_ext allowlists what fairseq stores
            state = torch.load(path, map_location="cpu")
        except Exception as e:
            raise ValueError(f"{path} cannot be read as a fairseq checkpoint: {e}") from e
        if not isinstance(state, dict) or "model" not in state or not state.get("cfg"):
            raise ValueError(f"{path} is not a fairseq checkpoint (it has no 'model' and 'cfg' entries)")
        model_cfg = state["cfg"]["model"]
        # a Namespace for command-line training, a dict for hydra training
        args = Namespace(**(model_cfg if isinstance(model_cfg, dict) else vars(model_cfg)))
        arch = getattr(args, "arch", None) or getattr(args, "_name", None)
        if ARCH_MODEL_REGISTRY.get(arch) is not XlingRobertaModel:
            raise ValueError(
                f"{path} holds a fairseq '{arch}' model, not an xling_roberta model "
                "(--arch xling_base / xling_tiny): only those can be exported"
            )
        ARCH_CONFIG_REGISTRY[arch](args)
        task = state["cfg"]["task"]
        history = state.get("optimizer_history") or [{}]
        return cls(
            path=path,
            state_dict=state["model"],
            arch=arch,
            args=args,
            langs=parse_langs(task.get("langs")),
            data_dir=str(task.get("data", "")).split(":")[0],
            num_updates=int(history[-1].get("num_updates", 0)),
        )

    @property
    def layout(self) -> ParameterLayout:
        """Which tensors serve which language, read from the options as the model does."""
        return ParameterLayout.from_args(self.args, len(self.langs))

    @property
    def lang_specific_embeddings(self) -> bool:
        return self.layout.lang_specific_embeddings

    @property
    def lang_specific_layers(self) -> int:
        return self.layout.lang_specific_layers

    @property
    def language_embeddings(self) -> bool:
        return self.layout.language_embeddings

    @property
    def same_weights_for_all_languages(self) -> bool:
        return not (self.lang_specific_embeddings or self.lang_specific_layers or self.language_embeddings)

    def sharing_setting(self) -> str:
        """The row of the paper's Table 1, e.g. 'Sep Emb + L1-3'."""
        if self.lang_specific_embeddings or self.lang_specific_layers:
            name = settings.sharing_name(self.lang_specific_embeddings, self.lang_specific_layers)
        else:
            name = f"{settings.get(settings.BASELINE).display} (all parameters shared)"
        return name + (", with language embeddings" if self.language_embeddings else "")

    def _tensor(self, key: str) -> torch.Tensor:
        if key not in self.state_dict:
            raise ValueError(f"{self.path} has no tensor '{key}', which its options require")
        return self.state_dict[key]

    def vocabulary_ids(self, lang: int):
        """The dictionary id of each row of ``lang``'s token table; None when the rows are the ids."""
        name = self.layout.vocabulary(lang)
        return None if name is None else self._tensor(ENCODER + name + ".ids")

    @property
    def dictionary_size(self) -> int:
        """The ids the model reads (dict.txt and <mask>)."""
        name = self.layout.vocabulary(0)
        if name is not None and ENCODER + name + ".rows" in self.state_dict:
            return self.state_dict[ENCODER + name + ".rows"].shape[0]
        # tables over the whole dictionary: no Sep Emb, or saved before per-language vocabularies
        return self._tensor(ENCODER + self.layout.token_table(0) + ".weight").shape[0]

    def hf_config(self, lang: int = 0) -> XLMRobertaConfig:
        args, layout = self.args, self.layout
        unsupported = {
            "--no-token-positional-embeddings": not layout.positions,
            "--encoder-normalize-before (pre-LN)": args.encoder_normalize_before,
            "no --layernorm-embedding": not args.layernorm_embedding,
            "sinusoidal positions": not args.encoder_learned_pos,
            "scaled embeddings": not args.no_scale_embedding,
            f"--activation-fn {args.activation_fn}": args.activation_fn != "gelu",
            "--untie-weights-roberta": args.untie_weights_roberta,
        }
        found = [name for name, present in unsupported.items() if present]
        if found:
            raise ValueError(f"{self.path}: XLM-R has no equivalent of " + ", ".join(found))
        tokens = self._tensor(ENCODER + layout.token_table(lang) + ".weight")
        return XLMRobertaConfig(
            vocab_size=tokens.shape[0],
            hidden_size=tokens.shape[1],
            num_hidden_layers=args.encoder_layers,
            num_attention_heads=args.encoder_attention_heads,
            intermediate_size=args.encoder_ffn_embed_dim,
            hidden_act="gelu",
            hidden_dropout_prob=args.dropout,
            attention_probs_dropout_prob=args.attention_dropout,
            # fairseq's learned positions start after the padding index, as XLM-R's do
            max_position_embeddings=self._tensor(ENCODER + layout.position_table(0) + ".weight").shape[0],
            type_vocab_size=1,
            layer_norm_eps=1e-5,  # torch's LayerNorm default, which fairseq uses
            bos_token_id=0,
            pad_token_id=1,
            eos_token_id=2,
            tie_word_embeddings=True,
        )

    def _source_names(self, lang: int) -> Dict[str, str]:
        """XLM-R parameter name -> checkpoint tensor name, for language ``lang``."""
        layout = self.layout
        tokens, positions = ENCODER + layout.token_table(lang) + ".weight", layout.position_table(lang)
        if positions is None:
            raise ValueError(f"{self.path}: XLM-R has no equivalent of --no-token-positional-embeddings")
        names = {
            "roberta.embeddings.word_embeddings.weight": tokens,
            "roberta.embeddings.position_embeddings.weight": ENCODER + positions + ".weight",
            "lm_head.decoder.weight": tokens,
            "lm_head.decoder.bias": "encoder.lm_head.bias",
            "lm_head.bias": "encoder.lm_head.bias",
        }
        for kind in ("weight", "bias"):
            names[f"roberta.embeddings.LayerNorm.{kind}"] = ENCODER + f"{EMBEDDING_NORM}.{kind}"
            names[f"lm_head.dense.{kind}"] = f"encoder.lm_head.dense.{kind}"
            names[f"lm_head.layer_norm.{kind}"] = f"encoder.lm_head.layer_norm.{kind}"
            for i, layer in enumerate(layout.layers(lang)):
                for fairseq_module, hf_module in LAYER_MODULES.items():
                    hf_name = f"roberta.encoder.layer.{i}.{hf_module}.{kind}"
                    names[hf_name] = ENCODER + f"{layer}.{fairseq_module}.{kind}"
        return names

    def hf_state_dict(self, lang: int) -> Dict[str, torch.Tensor]:
        """The weights of language ``lang`` (its index in ``langs``) under XLM-R's names."""
        weights = {hf: self._tensor(source) for hf, source in self._source_names(lang).items()}
        ids = self.vocabulary_ids(lang)
        if ids is not None:  # the bias of each of the language's rows
            for name in ("lm_head.decoder.bias", "lm_head.bias"):
                weights[name] = weights[name][ids]
        hidden = weights["roberta.embeddings.word_embeddings.weight"].shape[1]
        weights["roberta.embeddings.token_type_embeddings.weight"] = (
            self._tensor(ENCODER + LANGUAGE_VECTORS + ".weight")[lang : lang + 1]
            if self.language_embeddings
            else torch.zeros(1, hidden)
        )
        return weights
