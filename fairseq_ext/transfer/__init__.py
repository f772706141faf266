"""Zero-shot cross-lingual transfer (the paper's Section 3.2 and Table 1).

Fine-tune a pretrained ``xling_roberta`` checkpoint on the source language (English),
choose the epoch on its dev set, and test on each target language with that language's
own embeddings and lower layers. The language-specific parts stay frozen.

- ``formats/``: readers for XNLI/MultiNLI, BIO NER (CoNLL-2003, WikiAnn), CoNLL-U, and the
  ``label<TAB>text`` stand-ins;
- ``heads/``: classification on <s>, tagging on first subwords, the biaffine parser, and
  a Transformer projector;
- ``metrics/``: accuracy, span F1 with the paper's BIO repair, LAS/UAS;
- ``model.py``: the encoder + head and the freezing rule; ``finetune.py``: one run;
  ``grid.py``: the hyper-parameter grid and its best-two average; ``table.py``: Table 1.

CLI: ``python -m fairseq_ext.transfer {finetune,grid,table}``; configs in ``configs/transfer/``.
"""
