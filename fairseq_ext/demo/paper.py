"""The paper's Table 1 (Conneau, Wu et al., ACL 2020), copied from its text: zero-shot
transfer from English, XNLI accuracy, NER F1 and parsing LAS, per target language, and
each task's Δ (the 3-language average minus Default's). Rows use the paper's names.

The numbers live with their settings in ``xling.settings``; this is their table."""

from xling.settings import LANGS, TASKS, paper_table

__all__ = ["LANGS", "TABLE1", "TASKS"]

# row -> task -> {fr, ru, zh, Δ}
TABLE1 = paper_table()
