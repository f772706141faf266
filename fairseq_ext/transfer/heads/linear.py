"""What the classification and tagging heads share: dropout and a linear layer that
scores a fixed list of labels (those of the training data)."""

from typing import Sequence

import torch
from torch import nn


class LinearLabelScorer(nn.Module):
    def __init__(self, dim: int, labels: Sequence[str], dropout: float = 0.1):
        super().__init__()
        self.labels = list(labels)
        self.label_ids = {label: i for i, label in enumerate(self.labels)}
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(dim, len(self.labels))

    @classmethod
    def from_config(cls, dim: int, labels: Sequence[str], head_cfg) -> "LinearLabelScorer":
        """The head of ``head_cfg`` (transfer.config.HeadConfig) over ``dim``-wide features."""
        return cls(dim, labels, head_cfg.dropout)

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(features))
