"""Masking whose random replacements can be limited to one language's vocabulary."""

from typing import Optional

import numpy as np
from fairseq.data import MaskTokensDataset


class LanguageMaskTokensDataset(MaskTokensDataset):
    """fairseq's 80/10/10 masking; ``replacement_ids`` limits the 10% random tokens.

    With language-specific embeddings the paper samples random replacement words
    "within the same language only": pass the ids that occur in this language's
    training data. ``None`` keeps fairseq's rule (any non-special id of the dictionary).
    """

    def __init__(self, *args, replacement_ids: Optional[np.ndarray] = None, **kwargs):
        super().__init__(*args, **kwargs)
        if replacement_ids is not None and self.random_token_prob > 0.0:
            allowed = np.zeros(len(self.vocab), dtype=np.float64)
            allowed[replacement_ids] = 1.0
            allowed[self.mask_idx] = 0.0
            # keep fairseq's weights (uniform or --freq-weighted-replacement), restricted
            weights = self.weights * allowed
            if weights.sum() == 0:
                raise ValueError("no token is left to draw random replacements from")
            self.weights = weights / weights.sum()
