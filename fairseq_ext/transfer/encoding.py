"""Examples to model inputs through the pretraining vocabulary (``vocab.json``), and
batches of them. A batch holds one language, as the model requires."""

from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from fairseq_ext.transfer.examples import TextExample
from fairseq_ext.vocab import Vocabulary


@dataclass
class EncodedExample:
    tokens: torch.Tensor  # T ids: <s> ... </s>
    word_positions: Optional[torch.Tensor] = None  # first subword of each word that fits in T
    word_count: int = 0  # words of the sentence, including those cut off by the length limit
    targets: Dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class Batch:
    tokens: torch.Tensor  # B x T
    token_mask: torch.Tensor  # B x T: not padding
    lang_id: torch.Tensor  # B, all the same
    word_positions: Optional[torch.Tensor]  # B x W (0 where padded)
    word_mask: Optional[torch.Tensor]  # B x W: the word exists and fits in the length limit
    word_counts: List[int]
    targets: Dict[str, torch.Tensor]
    indices: List[int]  # which examples of the dataset, in batch order

    def to(self, device) -> "Batch":
        def move(tensor):
            return None if tensor is None else tensor.to(device)

        return replace(
            self, tokens=move(self.tokens), token_mask=move(self.token_mask), lang_id=move(self.lang_id), word_positions=move(self.word_positions),
            word_mask=move(self.word_mask), targets={key: move(t) for key, t in self.targets.items()},
        )


def encode_text(vocab: Vocabulary, texts: Sequence[str], lang: str, max_tokens: int) -> torch.Tensor:
    """``<s> A </s>`` or, for a pair, ``<s> A </s></s> B </s>`` (RoBERTa's layout); the
    longer text loses its last pieces until the whole fits in ``max_tokens``."""
    d = vocab.dictionary
    pieces = [vocab.piece_ids(vocab.pieces(text, lang)) for text in texts]
    excess = sum(map(len, pieces)) - (max_tokens - 2 * len(texts))
    for _ in range(max(excess, 0)):
        max(pieces, key=len).pop()
    ids = [d.bos()]
    for i, text_ids in enumerate(pieces):
        ids += ([d.eos()] if i else []) + text_ids + [d.eos()]
    return torch.tensor(ids, dtype=torch.long)


def encode_words(vocab: Vocabulary, words: Sequence[str], lang: str, max_tokens: int):
    """Ids and first-subword positions; a sentence longer than ``max_tokens`` is cut and
    only the words whose first subword survives get a position."""
    ids, first = vocab.encode_words(words, lang)
    if len(ids) > max_tokens:
        ids = torch.cat([ids[: max_tokens - 1], ids[-1:]])
        first = first[first < max_tokens - 1]
    return ids, first


def encode(vocab: Vocabulary, example, lang: str, max_tokens: int, targets=None) -> EncodedExample:
    """``targets``: the head's ``targets`` function, for training examples."""
    if isinstance(example, TextExample):
        encoded = EncodedExample(encode_text(vocab, example.texts, lang, max_tokens))
    else:
        tokens, positions = encode_words(vocab, example.words, lang, max_tokens)
        encoded = EncodedExample(tokens, positions, len(example.words))
    if targets is not None:
        encoded.targets = targets(example)
    return encoded


def pad(tensors: Sequence[torch.Tensor], value: int) -> torch.Tensor:
    return torch.nn.utils.rnn.pad_sequence(list(tensors), batch_first=True, padding_value=value)


def collate(items: Sequence[EncodedExample], indices: Sequence[int], lang_id: int, pad_id: int) -> Batch:
    word_positions = word_mask = None
    if items[0].word_positions is not None:
        word_positions = pad([item.word_positions for item in items], 0)
        lengths = torch.tensor([len(item.word_positions) for item in items])
        word_mask = torch.arange(word_positions.size(1)).unsqueeze(0) < lengths.unsqueeze(1)
    targets = {}
    for key in items[0].targets:
        values = [item.targets[key] for item in items]
        targets[key] = torch.stack(values) if values[0].dim() == 0 else pad(values, -100)
        if word_positions is not None and targets[key].dim() == 2:  # word targets of cut words drop out
            targets[key] = targets[key][:, : word_positions.size(1)]
    tokens = pad([item.tokens for item in items], pad_id)
    return Batch(
        tokens=tokens,
        token_mask=tokens.ne(pad_id),
        lang_id=torch.full((len(items),), lang_id, dtype=torch.long),
        word_positions=word_positions,
        word_mask=word_mask,
        word_counts=[item.word_count for item in items],
        targets=targets,
        indices=list(indices),
    )


def training_order(n_examples: int, epoch: int, seed: int, epoch_size: Optional[int] = None) -> np.ndarray:
    """Example indices of one epoch (0-based), the same for the same seed on every run.

    Epochs cut a stream of reshuffled passes over the data, so an epoch can be shorter
    or longer than the data (XLM's fixed-size epochs for XNLI); by default it is one pass.
    """
    epoch_size = epoch_size or n_examples
    start, stop = epoch * epoch_size, (epoch + 1) * epoch_size
    passes = range(start // n_examples, (stop - 1) // n_examples + 1)
    stream = np.concatenate([np.random.default_rng([seed, p]).permutation(n_examples) for p in passes])
    offset = passes[0] * n_examples
    return stream[start - offset : stop - offset]


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> List[np.ndarray]:
    """Evaluation batches of similar length (less padding); order does not matter there."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
