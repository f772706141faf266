"""The paper's Table 1 (Conneau, Wu et al., ACL 2020), copied from its text: zero-shot
transfer from English, XNLI accuracy, NER F1 and parsing LAS, per target language, and
each task's Δ (the 3-language average minus Default's). Rows use the paper's names."""

TASKS = ("XNLI", "NER", "Parsing")
LANGS = ("fr", "ru", "zh", "Δ")

# row -> task -> {fr, ru, zh, Δ}
TABLE1 = {
    "Default": {
        "XNLI": {"fr": 73.6, "ru": 68.7, "zh": 68.3, "Δ": 0.0},
        "NER": {"fr": 79.8, "ru": 60.9, "zh": 63.6, "Δ": 0.0},
        "Parsing": {"fr": 73.2, "ru": 56.6, "zh": 28.8, "Δ": 0.0},
    },
    "Wiki-CC": {
        "XNLI": {"fr": 74.2, "ru": 65.8, "zh": 66.5, "Δ": -1.4},
        "NER": {"fr": 74.0, "ru": 49.6, "zh": 61.9, "Δ": -6.2},
        "Parsing": {"fr": 71.3, "ru": 54.8, "zh": 25.2, "Δ": -2.5},
    },
    "No anchors": {
        "XNLI": {"fr": 72.1, "ru": 67.5, "zh": 67.7, "Δ": -1.1},
        "NER": {"fr": 74.0, "ru": 57.9, "zh": 65.0, "Δ": -2.4},
        "Parsing": {"fr": 72.3, "ru": 56.2, "zh": 27.4, "Δ": -0.9},
    },
    "Default anchors": {
        "XNLI": {"fr": 74.0, "ru": 68.1, "zh": 68.9, "Δ": 0.1},
        "NER": {"fr": 76.8, "ru": 56.3, "zh": 61.2, "Δ": -3.3},
        "Parsing": {"fr": 73.0, "ru": 57.0, "zh": 28.3, "Δ": -0.1},
    },
    "Extra anchors": {
        "XNLI": {"fr": 74.0, "ru": 69.8, "zh": 72.1, "Δ": 1.8},
        "NER": {"fr": 76.1, "ru": 59.7, "zh": 66.8, "Δ": -0.5},
        "Parsing": {"fr": 73.3, "ru": 56.9, "zh": 29.2, "Δ": 0.3},
    },
    "Sep Emb": {
        "XNLI": {"fr": 72.7, "ru": 63.6, "zh": 60.8, "Δ": -4.5},
        "NER": {"fr": 75.5, "ru": 57.5, "zh": 59.0, "Δ": -4.1},
        "Parsing": {"fr": 71.7, "ru": 54.0, "zh": 27.5, "Δ": -1.8},
    },
    "Sep L1-3": {
        "XNLI": {"fr": 72.4, "ru": 65.0, "zh": 63.1, "Δ": -3.4},
        "NER": {"fr": 74.0, "ru": 53.3, "zh": 60.8, "Δ": -5.3},
        "Parsing": {"fr": 69.7, "ru": 54.1, "zh": 26.4, "Δ": -2.8},
    },
    "Sep L1-6": {
        "XNLI": {"fr": 61.9, "ru": 43.6, "zh": 37.4, "Δ": -22.6},
        "NER": {"fr": 61.2, "ru": 23.7, "zh": 3.1, "Δ": -38.7},
        "Parsing": {"fr": 61.7, "ru": 31.6, "zh": 12.0, "Δ": -17.8},
    },
    "Sep Emb + L1-3": {
        "XNLI": {"fr": 69.2, "ru": 61.7, "zh": 56.4, "Δ": -7.8},
        "NER": {"fr": 73.8, "ru": 46.8, "zh": 53.5, "Δ": -10.0},
        "Parsing": {"fr": 68.2, "ru": 53.6, "zh": 23.9, "Δ": -4.3},
    },
    "Sep Emb + L1-6": {
        "XNLI": {"fr": 51.6, "ru": 35.8, "zh": 34.4, "Δ": -29.6},
        "NER": {"fr": 56.5, "ru": 5.4, "zh": 1.0, "Δ": -47.1},
        "Parsing": {"fr": 50.9, "ru": 6.4, "zh": 1.5, "Δ": -33.3},
    },
}
