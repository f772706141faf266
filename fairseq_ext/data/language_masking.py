"""BERT's 80/10/10 masking, drawn once per block for both the input and the target, with
random replacements that can be limited to one language's vocabulary."""

from functools import lru_cache
from typing import Optional, Tuple

import numpy as np
import torch
from fairseq.data import BaseWrapperDataset, Dictionary


class LanguageMaskTokensDataset(BaseWrapperDataset):
    """Masked (input, target) pairs of a dataset of token blocks.

    Of each block, ``int(mask_prob * len + u)`` positions (u uniform in [0, 1), so the
    expected share is ``mask_prob``) are predicted; of those, ``leave_unmasked_prob`` keep
    their token, ``random_token_prob`` get a random one and the rest ``<mask>``. The target
    holds the original token at predicted positions and padding elsewhere. These are
    fairseq's ``MaskTokensDataset`` rules; the draws differ: a block's mask is drawn once
    for input and target (fairseq draws it twice, once per dataset), from a counter-based
    generator keyed by (seed, epoch, index), and random tokens by inverse CDF. A training
    step spent about 15% of its time in fairseq's per-block masking at the demo's size.

    With language-specific embeddings the paper samples random replacement words "within
    the same language only": ``replacement_ids`` (the ids that occur in this language's
    training data) limits them. ``None`` keeps fairseq's rule: any non-special id, uniform
    or (``freq_weighted_replacement``) by dictionary counts.
    """

    def __init__(
        self,
        dataset,
        vocab: Dictionary,
        pad_idx: int,
        mask_idx: int,
        seed: int = 1,
        mask_prob: float = 0.15,
        leave_unmasked_prob: float = 0.1,
        random_token_prob: float = 0.1,
        freq_weighted_replacement: bool = False,
        mask_multiple_length: int = 1,
        mask_stdev: float = 0.0,
        replacement_ids: Optional[np.ndarray] = None,
    ):
        super().__init__(dataset)
        if mask_multiple_length != 1 or mask_stdev != 0.0:
            raise ValueError("--mask-multiple-length and --mask-stdev (span masking) are not supported by xling_mlm")
        if not 0.0 < mask_prob < 1.0:
            raise ValueError(f"--mask-prob {mask_prob}: expected a probability in (0, 1)")
        if leave_unmasked_prob + random_token_prob > 1.0:
            raise ValueError("--leave-unmasked-prob plus --random-token-prob must not exceed 1")
        self.pad_idx, self.mask_idx, self.seed = pad_idx, mask_idx, seed
        self.mask_prob, self.leave_unmasked_prob, self.random_token_prob = mask_prob, leave_unmasked_prob, random_token_prob
        self.epoch = 0
        weights = np.array(vocab.count, dtype=np.float64) if freq_weighted_replacement else np.ones(len(vocab))
        weights[: vocab.nspecial] = 0.0
        if replacement_ids is not None:
            allowed = np.zeros(len(vocab))
            allowed[replacement_ids] = 1.0
            weights *= allowed
        weights[mask_idx] = 0.0
        if random_token_prob > 0.0 and weights.sum() == 0:
            raise ValueError("no token is left to draw random replacements from")
        cumulative = np.cumsum(weights)
        self.replacement_cdf = cumulative / max(cumulative[-1], 1e-12)  # ends at exactly 1: u < 1 picks a real id

    @classmethod
    def apply_mask(cls, dataset, *args, **kwargs) -> Tuple["MaskedField", "MaskedField"]:
        """The (input, target) datasets of ``dataset``'s masked blocks, sharing one draw."""
        pairs = cls(dataset, *args, **kwargs)
        return MaskedField(pairs, 0), MaskedField(pairs, 1)

    @property
    def can_reuse_epoch_itr_across_epochs(self):
        return True  # only the masks change between epochs, not the sizes

    def set_epoch(self, epoch, **unused):
        super().set_epoch(epoch)
        self.epoch = epoch

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, torch.Tensor]:
        return self._pair(self.epoch, index)

    @lru_cache(maxsize=64)  # the input and the target of a block are read one after the other
    def _pair(self, epoch: int, index: int) -> Tuple[torch.Tensor, torch.Tensor]:
        item = np.asarray(self.dataset[index])
        if (item == self.mask_idx).any():
            raise ValueError(f"block {index} already holds the <mask> id {self.mask_idx}: the data uses it as a token")
        rng = np.random.Generator(np.random.Philox(key=[self.seed, epoch], counter=index))
        size = len(item)
        predicted = rng.permutation(size)[: int(self.mask_prob * size + rng.random())]
        role = rng.random(len(predicted))  # < leave: kept, < leave + random: random token, else <mask>
        source = item.copy()
        source[predicted[role >= self.leave_unmasked_prob]] = self.mask_idx
        randomised = predicted[(role >= self.leave_unmasked_prob) & (role < self.leave_unmasked_prob + self.random_token_prob)]
        if len(randomised):
            source[randomised] = np.searchsorted(self.replacement_cdf, rng.random(len(randomised)), side="right")
        target = np.full(size, self.pad_idx, dtype=item.dtype)
        target[predicted] = item[predicted]
        return torch.from_numpy(source), torch.from_numpy(target)


class MaskedField(BaseWrapperDataset):
    """The input (0) or the target (1) of a :class:`LanguageMaskTokensDataset`."""

    def __init__(self, pairs: LanguageMaskTokensDataset, field: int):
        super().__init__(pairs)
        self.field = field

    def __getitem__(self, index):
        return self.dataset[index][self.field]
