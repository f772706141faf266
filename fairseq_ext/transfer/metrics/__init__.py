"""Evaluation metrics, one module per metric."""

from fairseq_ext.transfer.metrics.accuracy import accuracy, majority_class
from fairseq_ext.transfer.metrics.attachment import attachment_scores
from fairseq_ext.transfer.metrics.span_f1 import bio_spans, repair_bio, span_f1

__all__ = ["accuracy", "attachment_scores", "bio_spans", "majority_class", "repair_bio", "span_f1"]
