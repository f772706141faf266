"""A small Transformer between the (frozen) encoder features and a task head: the
paper's Section 5.1.2 setup ("first i layers frozen + four Transformer layers + the task
layer"), as in shijie-wu/crosslingual-nlp's ``--projector transformer``."""

import torch
from torch import nn


class TransformerProjector(nn.Module):
    def __init__(self, dim: int, layers: int = 4, heads: int = 12, ffn_dim: int = 3072, dropout: float = 0.2):
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            dim, heads, ffn_dim, dropout, activation="gelu", batch_first=True
        )
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, features: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        return self.layers(features, src_key_padding_mask=padding_mask)
