"""Single-language batches and temperature-based language sampling.

The paper (after XLM) draws one language per batch, with probability
q_l = p_l^alpha / sum_k p_k^alpha, where p_l is language l's share of the data.
Language-specific layers need this: a batch that mixed languages would have to be
split inside the model.
"""

import logging
from typing import List, Sequence

import numpy as np
from fairseq.data import ConcatDataset, ResamplingDataset

logger = logging.getLogger(__name__)


def temperature_probs(sizes: Sequence[int], alpha: float) -> np.ndarray:
    """q_l proportional to (n_l / N) ** alpha; alpha=1 keeps the natural mix, 0 is uniform."""
    if not (np.isfinite(alpha) and alpha >= 0):  # below 0 would favour small languages beyond uniform
        raise ValueError(f"--multilang-sampling-alpha (task.multilang_sampling_alpha) {alpha}: expected a number >= 0")
    sizes = np.asarray(sizes, dtype=np.float64)
    if (sizes <= 0).any():
        raise ValueError(f"every language needs at least one sample, got sizes {sizes.tolist()}")
    probs = (sizes / sizes.sum()) ** alpha
    return probs / probs.sum()


class LanguageGroupedDataset(ConcatDataset):
    """Concatenated per-language datasets whose batches never mix languages.

    Each sub-dataset is one language, in language-id order. ``batch_by_size`` batches
    every language separately; fairseq's EpochBatchIterator then shuffles the batches,
    so consecutive updates still see languages in random order.
    """

    def language_of(self, indices: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.cumulative_sizes, indices, side="right")

    def num_tokens_vec(self, indices):
        # vectorised, so batching millions of samples needs no Python loop per sample
        return self.sizes[indices]

    def batch_by_size(
        self, indices, max_tokens=None, max_sentences=None, required_batch_size_multiple=1
    ) -> List[np.ndarray]:
        indices = np.asarray(indices, dtype=np.int64)
        langs = self.language_of(indices)
        batches = []
        for lang in range(len(self.datasets)):
            # boolean selection keeps the size ordering chosen by ordered_indices()
            selected = indices[langs == lang]
            lang_batches = super().batch_by_size(
                selected,
                max_tokens=max_tokens,
                max_sentences=max_sentences,
                required_batch_size_multiple=required_batch_size_multiple,
            )
            # fairseq's batcher drops a last batch smaller than the required multiple;
            # batching per language would lose up to one such tail per language
            batched = sum(len(b) for b in lang_batches)
            if batched < len(selected):
                lang_batches.append(selected[batched:])
            batches.extend(lang_batches)
        return batches


def temperature_resample(datasets, langs, alpha: float, seed: int, epoch: int):
    """Wrap each language so that its share of an epoch is q_l; the total size is kept.

    Languages that must shrink are subsampled without replacement, languages that
    must grow are upsampled with replacement; a new sample is drawn every epoch.
    """
    sizes = [len(d) for d in datasets]
    probs = temperature_probs(sizes, alpha)
    ratios = probs * sum(sizes) / np.asarray(sizes, dtype=np.float64)
    logger.info(
        "language sampling (alpha=%s): %s",
        alpha,
        ", ".join(
            f"{lang}: n={n} p={n / sum(sizes):.4f} q={q:.4f} ratio={r:.3f}"
            for lang, n, q, r in zip(langs, sizes, probs, ratios)
        ),
    )
    resampled = []
    for dataset, ratio in zip(datasets, ratios):
        if np.isclose(ratio, 1.0):
            resampled.append(dataset)  # nothing to change: keep full coverage
        else:
            resampled.append(
                ResamplingDataset(
                    dataset, size_ratio=ratio, replace=ratio > 1.0, seed=seed, epoch=epoch
                )
            )
    return LanguageGroupedDataset(resampled), probs
