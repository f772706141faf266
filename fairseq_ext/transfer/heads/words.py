"""Word-level views of subword features, shared by the tagging and parsing heads."""

import torch


def gather_words(features: torch.Tensor, word_positions: torch.Tensor) -> torch.Tensor:
    """B x T x C features at each word's first subword -> B x W x C."""
    index = word_positions.unsqueeze(-1).expand(-1, -1, features.size(-1))
    return features.gather(1, index)
