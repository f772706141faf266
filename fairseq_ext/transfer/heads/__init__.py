"""Task heads on top of encoder features (B x T x C), one module per head.

Every head has the same small interface, which the fine-tuning loop relies on:
``label_set(train_examples)`` (static), ``targets(example)``, ``loss(features, batch)``,
``predict(features, batch)``, ``score(examples, predictions)`` and ``metric`` (the key of
``score``'s result used for model selection).
"""

from fairseq_ext.transfer.heads.biaffine_parser import BiaffineParserHead
from fairseq_ext.transfer.heads.classification import ClassificationHead
from fairseq_ext.transfer.heads.projector import TransformerProjector
from fairseq_ext.transfer.heads.tagging import TaggingHead

HEADS = {"classification": ClassificationHead, "tagging": TaggingHead, "parsing": BiaffineParserHead}

__all__ = ["HEADS", "BiaffineParserHead", "ClassificationHead", "TaggingHead", "TransformerProjector"]
