"""Readers for the real dataset formats, each in its own module; all report malformed
lines as ``FILE:LINE: what is wrong`` (:class:`FormatError`)."""

from fairseq_ext.transfer.formats.bio_ner import read_bio
from fairseq_ext.transfer.formats.conllu import read_conllu
from fairseq_ext.transfer.formats.labelled_tsv import read_labelled_tsv
from fairseq_ext.transfer.formats.lines import FormatError
from fairseq_ext.transfer.formats.xnli import read_nli

__all__ = ["FormatError", "read_bio", "read_conllu", "read_labelled_tsv", "read_nli"]
