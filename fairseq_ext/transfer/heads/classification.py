"""Sentence(-pair) classification: a linear layer and softmax on the first token (<s>),
as for XNLI in the paper, or on the mean of the tokens (kinder to small models, whose
<s> state carries little: MLM pretraining never trains it as a summary)."""

from typing import Dict, List, Sequence

import torch
import torch.nn.functional as F

from fairseq_ext.transfer.examples import TextExample
from fairseq_ext.transfer.heads.linear import LinearLabelScorer
from fairseq_ext.transfer.metrics import accuracy


class ClassificationHead(LinearLabelScorer):
    metric = "accuracy"
    POOLINGS = ("first", "mean")

    def __init__(self, dim: int, labels: Sequence[str], dropout: float = 0.1, pooling: str = "first"):
        if pooling not in self.POOLINGS:
            raise ValueError(f"head.pooling must be one of {self.POOLINGS}, not {pooling!r}")
        super().__init__(dim, labels, dropout)
        self.pooling = pooling

    @classmethod
    def from_config(cls, dim: int, labels: Sequence[str], head_cfg) -> "ClassificationHead":
        return cls(dim, labels, head_cfg.dropout, head_cfg.pooling)

    @staticmethod
    def label_set(examples: Sequence[TextExample]) -> List[str]:
        return sorted({example.label for example in examples})

    def targets(self, example: TextExample) -> Dict[str, torch.Tensor]:
        return {"label": torch.tensor(self.label_ids[example.label])}

    def logits(self, features, batch):
        if self.pooling == "first":
            return self.scores(features[:, 0])
        mask = batch.token_mask.unsqueeze(-1).to(features.dtype)
        return self.scores((features * mask).sum(1) / mask.sum(1))

    def loss(self, features, batch) -> torch.Tensor:
        return F.cross_entropy(self.logits(features, batch), batch.targets["label"])

    def predict(self, features, batch) -> List[str]:
        return [self.labels[i] for i in self.logits(features, batch).argmax(-1).tolist()]

    def score(self, examples: Sequence[TextExample], predictions: Sequence[str]) -> Dict[str, float]:
        return accuracy([example.label for example in examples], predictions)
