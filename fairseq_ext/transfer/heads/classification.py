"""Sentence(-pair) classification: a linear layer and softmax on the first token (<s>),
as for XNLI in the paper."""

from typing import Dict, List, Sequence

import torch
import torch.nn.functional as F

from fairseq_ext.transfer.examples import TextExample
from fairseq_ext.transfer.heads.linear import LinearLabelScorer
from fairseq_ext.transfer.metrics import accuracy


class ClassificationHead(LinearLabelScorer):
    metric = "accuracy"

    @staticmethod
    def label_set(examples: Sequence[TextExample]) -> List[str]:
        return sorted({example.label for example in examples})

    def targets(self, example: TextExample) -> Dict[str, torch.Tensor]:
        return {"label": torch.tensor(self.label_ids[example.label])}

    def logits(self, features, batch):
        return self.scores(features[:, 0])

    def loss(self, features, batch) -> torch.Tensor:
        return F.cross_entropy(self.logits(features, batch), batch.targets["label"])

    def predict(self, features, batch) -> List[str]:
        return [self.labels[i] for i in self.logits(features, batch).argmax(-1).tolist()]

    def score(self, examples: Sequence[TextExample], predictions: Sequence[str]) -> Dict[str, float]:
        return accuracy([example.label for example in examples], predictions)
