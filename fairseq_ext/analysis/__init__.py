"""Alignment of independently trained models and layer-wise CKA (the paper's Section 5).

- ``representations``: per-layer sentence vectors (mean-pooled) and word vectors (mean of
  subwords), streamed in batches; ``words``: what a word is;
- ``procrustes``: iterative normalisation + orthogonal Procrustes;
- ``neighbours``: nearest-neighbour and CSLS retrieval in blocks, P@k;
- ``bli``: word translation from input embeddings, contextual averages and fastText;
- ``retrieval``: sentence retrieval per layer, with and without a map;
- ``word_alignment``: eflomal word pairs, per-layer maps, mapped features for transfer;
- ``cka``: linear CKA (and debiased) from n x d matrices;
- ``plots``, ``tables``: PNG figures, CSV/Markdown tables; ``data``: input files;
- ``config``, ``cli``: ``python -m fairseq_ext.analysis CONFIG``.
"""
