"""Per-layer representations of text, streamed through an ``xling_roberta`` encoder.

Layers are numbered as in the paper: L0 is the embedding layer's output, L1..LN the
Transformer layers. Sentences go through in length-sorted batches of one language (the
model's requirement), on CPU or GPU; only pooled results are kept, so memory is one
batch's hidden states plus the outputs:

- :func:`sentence_vectors`: mean of each sentence's subword vectors, ``<s>``/``</s>`` and
  padding excluded (Sections 5.1.3 and 5.2): layers x sentences x dim.
- :func:`word_occurrences`: for every word occurrence, the mean of its subword vectors
  (:mod:`words`), batch by batch; :func:`contextual_word_averages` sums them into one
  vector per word type and layer (Section 5.1.1, "contextual averaged").
"""

from collections import Counter
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from tqdm import tqdm

from fairseq_ext.analysis.words import SentenceWords, encode_sentence_words, punctuation_pieces
from fairseq_ext.transfer.encoding import length_sorted_batches, pad
from fairseq_ext.transfer.model import Pretrained, load_pretrained
from fairseq_ext.vocab import Vocabulary



def load_model(checkpoint: str, vocab_dir: Optional[str] = None, random_seed: Optional[int] = None) -> Pretrained:
    """A checkpoint's encoder; with ``random_seed``, a freshly initialised encoder of the same
    architecture, vocabulary and languages instead (the paper's random-encoder baseline)."""
    if random_seed is None:
        pretrained = load_pretrained(checkpoint, vocab_dir)
    else:
        import fairseq_ext  # noqa: F401 (registers the model; safe checkpoint loading)
        from fairseq import checkpoint_utils, tasks

        overrides = {"data": str(vocab_dir)} if vocab_dir else None
        cfg = checkpoint_utils.load_checkpoint_to_cpu(checkpoint, arg_overrides=overrides)["cfg"]
        task = tasks.setup_task(cfg.task)
        with torch.random.fork_rng():
            torch.manual_seed(random_seed)
            model = task.build_model(cfg.model)
        pretrained = Pretrained(model.encoder.sentence_encoder, list(task.langs), Vocabulary.load(vocab_dir or cfg.task.data))
    pretrained.encoder.eval()
    return pretrained


def num_layers(model: Pretrained) -> int:
    """Layers L0..LN: the embeddings and every Transformer layer."""
    return len(model.encoder.layers) + 1


def max_tokens(model: Pretrained) -> int:
    return int(model.encoder.max_positions())


def _cut(tokens: torch.Tensor, limit: int) -> torch.Tensor:
    return tokens if len(tokens) <= limit else torch.cat([tokens[: limit - 1], tokens[-1:]])


@torch.inference_mode()
def layer_states(
    model: Pretrained, lang: str, token_lists: Sequence[torch.Tensor], batch_size: int, device, desc: str
) -> Iterator[Tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
    """(indices, tokens B x T, states L x B x T x C) per batch, in length-sorted order."""
    encoder = model.encoder.to(device)
    lang_id = model.lang_id(lang)
    batches = length_sorted_batches([len(t) for t in token_lists], batch_size)
    for indices in tqdm(batches, desc=desc, unit=" batches", disable=None, leave=False):
        tokens = pad([token_lists[i] for i in indices], encoder.padding_idx).to(device)
        ids = torch.full((len(indices),), lang_id, dtype=torch.long, device=device)
        states = encoder(tokens, return_all_hiddens=True, src_lang_id=ids)["encoder_states"]
        yield indices, tokens, torch.stack(states).transpose(1, 2)  # L x T x B x C -> L x B x T x C


def sentence_vectors(model: Pretrained, sentences: Sequence[str], lang: str, batch_size: int = 32, device="cpu") -> torch.Tensor:
    """Mean-pooled subword vectors per layer: float32, layers x sentences x dim, on the CPU."""
    vocab, limit = model.vocab, max_tokens(model)
    token_lists = [_cut(vocab.encode(s, lang), limit) for s in sentences]
    special = torch.tensor([vocab.dictionary.bos(), vocab.dictionary.eos(), vocab.dictionary.pad()])
    out = torch.empty(num_layers(model), len(sentences), model.encoder.embed_tokens.embedding_dim)
    for indices, tokens, states in layer_states(model, lang, token_lists, batch_size, device, f"sentences {lang}"):
        keep = ~torch.isin(tokens, special.to(tokens.device))
        summed = (states * keep[None, :, :, None]).sum(2)
        out[:, torch.as_tensor(indices)] = (summed / keep.sum(1).clamp(min=1)[None, :, None]).float().cpu()
    return out


def encode_words(model: Pretrained, sentences: Sequence[str], lang: str, lowercase: bool = True) -> List[SentenceWords]:
    punctuation, limit = punctuation_pieces(model.vocab), max_tokens(model)
    return [
        encode_sentence_words(model.vocab, s, lang, punctuation, limit, lowercase)
        for s in tqdm(sentences, desc=f"words {lang}", unit=" sentences", disable=None, leave=False)
    ]


@dataclass
class Occurrences:
    """Word occurrences of one batch: which sentence and chunk, and their vectors."""

    sentence: np.ndarray  # occurrences
    chunk: np.ndarray  # occurrences
    vectors: torch.Tensor  # layers x occurrences x dim


def word_occurrences(
    model: Pretrained, encoded: Sequence[SentenceWords], lang: str, batch_size: int = 32, device="cpu"
) -> Iterator[Occurrences]:
    """Each batch's word vectors (mean of the word's subwords), for every chunk that has
    subwords within the length limit."""
    token_lists = [s.tokens for s in encoded]
    for indices, tokens, states in layer_states(model, lang, token_lists, batch_size, device, f"word vectors {lang}"):
        width = tokens.shape[1]
        sentence, chunk, owner, flat = [], [], [], []
        for row, i in enumerate(indices):
            for c, positions in enumerate(encoded[i].subwords):
                if positions:
                    owner.extend([len(sentence)] * len(positions))
                    flat.extend(row * width + p for p in positions)
                    sentence.append(i)
                    chunk.append(c)
        if not sentence:
            continue
        owner_t = torch.tensor(owner, device=device)
        gathered = states.flatten(1, 2)[:, torch.tensor(flat, device=device)]  # L x pieces x C
        sums = torch.zeros(states.shape[0], len(sentence), states.shape[-1], dtype=gathered.dtype, device=device)
        sums.index_add_(1, owner_t, gathered)
        counts = torch.bincount(owner_t, minlength=len(sentence)).to(sums.dtype)
        yield Occurrences(np.asarray(sentence), np.asarray(chunk), sums / counts[None, :, None])


def word_counts(encoded: Sequence[SentenceWords]) -> Counter:
    return Counter(w for s in encoded for w in s.words if w is not None)


def contextual_word_averages(
    model: Pretrained, encoded: Sequence[SentenceWords], lang: str, words: Sequence[str], batch_size: int = 32, device="cpu"
) -> torch.Tensor:
    """One vector per word of ``words`` and layer: the average of all its occurrences in
    ``encoded`` (float32, layers x words x dim, CPU). Memory: that output plus one batch."""
    index: Dict[str, int] = {w: i for i, w in enumerate(words)}
    dim = model.encoder.embed_tokens.embedding_dim
    sums = torch.zeros(num_layers(model), len(words), dim, device=device)
    counts = torch.zeros(len(words), device=device)
    for batch in word_occurrences(model, encoded, lang, batch_size, device):
        types = np.array([index.get(encoded[s].words[c], -1) for s, c in zip(batch.sentence, batch.chunk)])
        known = torch.from_numpy(np.flatnonzero(types >= 0)).to(device)
        type_ids = torch.from_numpy(types).to(device)[known]
        sums.index_add_(1, type_ids, batch.vectors[:, known].float())
        counts.index_add_(0, type_ids, torch.ones(len(known), device=device))
    if (counts == 0).any():
        missing = [words[i] for i in torch.nonzero(counts == 0).flatten()[:5].tolist()]
        raise ValueError(f"no occurrence of {int((counts == 0).sum())} requested words in the {lang} text, e.g. {missing}")
    return (sums / counts[None, :, None]).cpu()
