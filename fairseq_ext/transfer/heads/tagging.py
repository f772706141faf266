"""Token tagging (NER): a linear layer and softmax on the first subword of each word;
predictions are repaired with the paper's BIO rule and scored by span F1."""

from typing import Dict, List, Sequence

import torch
import torch.nn.functional as F

from fairseq_ext.transfer.examples import TaggedSentence
from fairseq_ext.transfer.heads.linear import LinearLabelScorer
from fairseq_ext.transfer.heads.words import gather_words
from fairseq_ext.transfer.metrics import repair_bio, span_f1

IGNORE = -100  # padding, and words cut off by the model's length limit


class TaggingHead(LinearLabelScorer):
    """Its labels are BIO tags."""

    metric = "f1"

    @staticmethod
    def label_set(examples: Sequence[TaggedSentence]) -> List[str]:
        tags = {tag for example in examples for tag in example.tags} - {"O"}
        return ["O", *sorted(tags)]

    def targets(self, example: TaggedSentence) -> Dict[str, torch.Tensor]:
        return {"tags": torch.tensor([self.label_ids[tag] for tag in example.tags])}

    def logits(self, features, batch):
        return self.scores(gather_words(features, batch.word_positions))

    def loss(self, features, batch) -> torch.Tensor:
        logits = self.logits(features, batch)
        targets = batch.targets["tags"].masked_fill(~batch.word_mask, IGNORE)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)

    def predict(self, features, batch) -> List[List[str]]:
        """Repaired BIO tags per sentence; words past the length limit get 'O'."""
        best = self.logits(features, batch).argmax(-1).tolist()
        predictions = []
        for row, n_words, n_fit in zip(best, batch.word_counts, batch.word_mask.sum(1).tolist()):
            tags = [self.labels[i] for i in row[:n_fit]] + ["O"] * (n_words - n_fit)
            predictions.append(repair_bio(tags))
        return predictions

    def score(self, examples: Sequence[TaggedSentence], predictions) -> Dict[str, float]:
        return span_f1([example.tags for example in examples], predictions)
