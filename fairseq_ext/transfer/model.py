"""A pretrained ``xling_roberta`` encoder with a task head, and the paper's freezing rule.

Reusable outside fine-tuning (e.g. by the alignment analysis): ``encode`` gives the
features of a chosen layer for a one-language batch, ``loss``/``predict`` accept features
computed (or mapped) elsewhere, and ``freeze`` takes ``freeze_layers`` for the
"first i layers frozen + a small Transformer head" setup.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import torch
from torch import nn

from fairseq_ext.models.layout import EMBEDDING_NORM, FINAL_NORM
from fairseq_ext.vocab import Vocabulary


@dataclass
class Pretrained:
    encoder: nn.Module  # the LanguageAwareTransformerEncoder (no LM head)
    langs: List[str]  # a language's id is its index, as in pretraining
    vocab: Vocabulary

    def lang_id(self, lang: str) -> int:
        if lang not in self.langs:
            raise ValueError(f"language {lang!r} is not one of the checkpoint's languages {self.langs}")
        return self.langs.index(lang)


def load_pretrained(checkpoint: str, vocab_dir: Optional[str] = None) -> Pretrained:
    import fairseq_ext  # noqa: F401 (registers the model and lets torch load the checkpoint safely)
    from fairseq import checkpoint_utils

    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"{checkpoint} (model.checkpoint) does not exist")
    overrides = {"data": str(vocab_dir)} if vocab_dir else None
    models, _, task = checkpoint_utils.load_model_ensemble_and_task([str(checkpoint)], arg_overrides=overrides)
    encoder = models[0].encoder.sentence_encoder
    vocab = Vocabulary.load(vocab_dir or task.cfg.data)
    if len(vocab.dictionary) != encoder.dictionary_size:
        raise ValueError(
            f"{vocab.data_dir / 'dict.txt'} gives {len(vocab.dictionary)} ids but {checkpoint} reads "
            f"{encoder.dictionary_size}: model.vocab_dir is not its pretraining data"
        )
    return Pretrained(encoder=encoder, langs=list(task.langs), vocab=vocab)


def frozen_modules(encoder, freeze_layers: int = 0, feature_layer: Optional[int] = None) -> List[nn.Module]:
    """What fine-tuning must not change.

    - The language-specific parts of every language, the paper's rule (Section 4.3):
      embeddings with Sep Emb, layers 1..K with Sep L1-K, language vectors.
    - With ``freeze_layers`` k: all embeddings and layers 1..k of every language.
    - With ``feature_layer`` i: the layers above i, which the features skip.
    """
    layout = encoder.layout  # which module serves which language: fairseq_ext.models.layout
    names = layout.language_specific()
    if freeze_layers > 0:
        names += [*layout.embeddings(), EMBEDDING_NORM, *layout.lower_layers(freeze_layers)]
    if feature_layer is not None:
        names += [*layout.layers_of_every_language(range(feature_layer, layout.num_layers)), FINAL_NORM]
    modules = (encoder.submodule(name) for name in dict.fromkeys(names))
    return [module for module in modules if module is not None]


class TransferModel(nn.Module):
    def __init__(self, encoder: nn.Module, head: nn.Module, feature_layer: Optional[int] = None, projector=None):
        super().__init__()
        n_layers = len(encoder.layers)
        if feature_layer is not None and not 0 <= feature_layer <= n_layers:
            raise ValueError(f"model.feature_layer {feature_layer} must be between 0 and {n_layers}")
        self.encoder, self.head, self.projector = encoder, head, projector
        self.feature_layer = feature_layer
        self.padding_idx = encoder.padding_idx

    def freeze(self, freeze_layers: int = 0) -> List[str]:
        """Freeze per :func:`frozen_modules`; returns the frozen parameter names."""
        for module in frozen_modules(self.encoder, freeze_layers, self.feature_layer):
            module.requires_grad_(False)
        return [name for name, p in self.named_parameters() if not p.requires_grad]

    def encode(self, tokens: torch.Tensor, lang_id: torch.Tensor) -> torch.Tensor:
        """B x T x C features of one language's batch (its own embeddings and lower layers).
        With a feature layer the encoder still runs every layer and the layer's state is taken."""
        out = self.encoder(tokens, return_all_hiddens=self.feature_layer is not None, src_lang_id=lang_id)
        if self.feature_layer is None:
            return out["encoder_out"][0].transpose(0, 1)
        return out["encoder_states"][self.feature_layer].transpose(0, 1)

    def _head_input(self, batch, features):
        if features is None:
            features = self.encode(batch.tokens, batch.lang_id)
        if self.projector is not None:
            features = self.projector(features, batch.tokens.eq(self.padding_idx))
        return features

    def loss(self, batch, features: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.head.loss(self._head_input(batch, features), batch)

    def predict(self, batch, features: Optional[torch.Tensor] = None):
        return self.head.predict(self._head_input(batch, features), batch)

    def trainable_state(self) -> Dict[str, torch.Tensor]:
        """The parameters fine-tuning changes; the rest is the pretrained checkpoint's."""
        trainable = {name for name, p in self.named_parameters() if p.requires_grad}
        return {name: t for name, t in self.state_dict().items() if name in trainable}

    def load_trainable_state(self, state: Dict[str, torch.Tensor], source: str = "state") -> None:
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = set(missing) & {name for name, p in self.named_parameters() if p.requires_grad}
        if missing or unexpected:
            raise ValueError(
                f"{source} does not fit this model: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}"
            )
