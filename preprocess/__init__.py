"""The corpus pipeline: real corpora in, sentencepiece vocabularies and binarized fairseq data out.

Run ``python -m preprocess.run configs/data/X.yaml``; see README.md, "Corpus pipeline".
"""
