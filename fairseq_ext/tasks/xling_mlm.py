"""Multilingual masked LM: one language per batch, temperature sampling over languages.

Data layout (written by ``preprocess/``)::

    DATA/dict.txt                  one dictionary for all languages (its vocabulary setting)
    DATA/<lang>/train.{bin,idx}    per-language splits in sub-folders ...
    DATA/train.<lang>.{bin,idx}    ... or as file prefixes

The language id (the index of the language in ``--langs``) travels in
``net_input["src_lang_id"]`` (one per sentence, on the device) and ``net_input["lang"]``
(one per batch, a Python int), so the model picks language-specific parameters without
reading the device.
"""

import logging
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
from fairseq.data import (
    FairseqDataset,
    IdDataset,
    NestedDictionaryDataset,
    NumelDataset,
    NumSamplesDataset,
    PrependTokenDataset,
    RawLabelDataset,
    RightPadDataset,
    SortDataset,
    TokenBlockDataset,
    data_utils,
)
from fairseq import utils
from fairseq.data.shorten_dataset import maybe_shorten_dataset
from fairseq.tasks import register_task
from fairseq.tasks.masked_lm import MaskedLMConfig, MaskedLMTask
from omegaconf import II

from fairseq_ext.data import LanguageGroupedDataset, LanguageMaskTokensDataset, temperature_resample

logger = logging.getLogger(__name__)


@dataclass
class XlingMLMConfig(MaskedLMConfig):
    langs: str = field(
        default="",
        metadata={"help": "comma-separated languages, e.g. 'en,fr'; a language's id is its position"},
    )
    multilang_sampling_alpha: float = field(
        default=0.7,
        metadata={
            "help": "language sampling exponent: q_l is proportional to p_l**alpha "
            "(1 = natural mix, 0 = uniform; the paper uses 0.7)"
        },
    )
    train_subset: str = II("dataset.train_subset")


@register_task("xling_mlm", dataclass=XlingMLMConfig)
class XlingMaskedLMTask(MaskedLMTask):
    """Masked LM over several languages whose batches each hold a single language."""

    cfg: XlingMLMConfig

    def __init__(self, cfg: XlingMLMConfig, dictionary=None):
        super().__init__(cfg, dictionary)
        self.langs: List[str] = parse_langs(cfg.langs)
        # Set from the model in build_model(): with language-specific embeddings the
        # random replacement tokens must come from the batch language's vocabulary.
        self.replace_within_language = False
        self._token_counts: Dict[str, np.ndarray] = {}  # by split prefix
        self._language_vocabularies: Dict[str, np.ndarray] = {}  # by language

    @classmethod
    def setup_task(cls, cfg: XlingMLMConfig, **kwargs):
        """Also applies the plugin's fairseq fixes (``fairseq_ext.patches``): fairseq-train and
        fairseq-hydra-train only import the user dir, and build the task before the model,
        the criterion, the Trainer and the checkpoint load that the fixes concern."""
        from fairseq_ext import patches

        patches.apply()
        return super().setup_task(cfg, **kwargs)

    @property
    def data_path(self) -> str:
        return utils.split_paths(self.cfg.data)[0]

    def split_prefix(self, split: str, lang: str, data_path: Optional[str] = None) -> str:
        """The indexed-dataset prefix of one language's split (sub-folder or file prefix)."""
        data_path = data_path or self.data_path
        candidates = [os.path.join(data_path, lang, split), os.path.join(data_path, f"{split}.{lang}")]
        for prefix in candidates:
            if os.path.exists(prefix + ".idx"):
                return prefix
        raise FileNotFoundError(
            f"language '{lang}' (from --langs / task.langs) has no '{split}' data: looked for "
            + " and ".join(p + ".idx" for p in candidates)
        )

    def token_counts(self, lang: str, split: Optional[str] = None, epoch: int = 1) -> np.ndarray:
        """How often each dictionary id occurs in a language's split (default: training).

        Also the check that dict.txt matches the data: an id past its end means the
        data was binarized with another dictionary.
        """
        split = split or self.cfg.train_subset
        prefix = self.split_prefix(split, lang, self._shard_path(epoch))
        if prefix not in self._token_counts:
            vocab_size = len(self.source_dictionary) - 1  # the ids of dict.txt, without <mask>
            counts = count_token_ids(self._load_indexed(split, lang, epoch), vocab_size)
            if len(counts) > vocab_size:
                raise ValueError(
                    f"{prefix}.bin holds id {len(counts) - 1}, but "
                    f"{os.path.join(self._shard_path(epoch), 'dict.txt')} (task.data) defines "
                    f"ids 0..{vocab_size - 1} only: the data was binarized with another dictionary"
                )
            self._token_counts[prefix] = counts
        return self._token_counts[prefix]

    def language_vocabulary(self, lang: str) -> np.ndarray:
        """The dictionary ids of a language's own vocabulary, ascending: the special symbols,
        every id its sentencepiece model can produce (``vocab.json``; in a joint folder that is
        the whole dictionary), every id in its training data (pieces looked up by surface
        string, e.g. another language's characters) and ``<mask>``.

        With --lang-specific-embeddings the language's token table and softmax have a row per
        id here, and its random replacement tokens are drawn from them. Without a
        ``vocab.json`` (data binarized by hand) the training data alone decides.
        """
        if lang not in self._language_vocabularies:  # asked by the model and by every load_dataset
            dictionary = self.source_dictionary
            own = np.zeros(len(dictionary), dtype=bool)
            own[: dictionary.nspecial] = True
            own[self.mask_idx] = True
            counts = self.token_counts(lang)
            own[: len(counts)] |= counts > 0
            if os.path.exists(os.path.join(self.data_path, "vocab.json")):
                from fairseq_ext.vocab import Vocabulary

                own[Vocabulary.load(self.data_path).language_ids(lang)] = True
            self._language_vocabularies[lang] = np.flatnonzero(own)
        return self._language_vocabularies[lang]

    def _shard_path(self, epoch: int) -> str:
        paths = utils.split_paths(self.cfg.data)
        return paths[(epoch - 1) % len(paths)]

    def _load_indexed(self, split: str, lang: str, epoch: int = 1):
        prefix = self.split_prefix(split, lang, self._shard_path(epoch))
        dataset = data_utils.load_indexed_dataset(prefix, self.source_dictionary)
        if dataset is None:
            raise FileNotFoundError(f"could not load {prefix}.{{bin,idx}} for language '{lang}'")
        if len(dataset) == 0:
            raise ValueError(f"{prefix}.bin is empty: language '{lang}' has no '{split}' text")
        return dataset

    def _language_dataset(self, split: str, lang_id: int, epoch: int):
        lang = self.langs[lang_id]
        dataset = self._load_indexed(split, lang, epoch)
        self.token_counts(lang, split, epoch)  # fails early if dict.txt does not match
        dataset = maybe_shorten_dataset(
            dataset,
            split,
            self.cfg.shorten_data_split_list,
            self.cfg.shorten_method,
            self.cfg.tokens_per_sample,
            self.cfg.seed,
        )
        dataset = TokenBlockDataset(
            dataset,
            dataset.sizes,
            self.cfg.tokens_per_sample - 1,  # room for <s>
            pad=self.source_dictionary.pad(),
            eos=self.source_dictionary.eos(),
            break_mode=self.cfg.sample_break_mode,
        )
        dataset = PrependTokenDataset(dataset, self.source_dictionary.bos())

        replacement_ids = None
        if self.replace_within_language:  # the language's own rows (the masking drops the specials)
            replacement_ids = self.language_vocabulary(lang)
        src, tgt = LanguageMaskTokensDataset.apply_mask(
            dataset,
            self.source_dictionary,
            pad_idx=self.source_dictionary.pad(),
            mask_idx=self.mask_idx,
            seed=self.cfg.seed + lang_id,  # languages get different masks for the same index
            mask_prob=self.cfg.mask_prob,
            leave_unmasked_prob=self.cfg.leave_unmasked_prob,
            random_token_prob=self.cfg.random_token_prob,
            freq_weighted_replacement=self.cfg.freq_weighted_replacement,
            mask_multiple_length=self.cfg.mask_multiple_length,
            mask_stdev=self.cfg.mask_stdev,
            replacement_ids=replacement_ids,
        )
        pad = self.source_dictionary.pad()
        return NestedDictionaryDataset(
            {
                "id": IdDataset(),
                "net_input": {
                    "src_tokens": RightPadDataset(src, pad_idx=pad),
                    "src_lengths": NumelDataset(src, reduce=False),
                    "src_lang_id": RawLabelDataset(np.full(len(src), lang_id, dtype=np.int64)),
                    "lang": BatchLanguageDataset(lang_id, len(src)),
                },
                "target": RightPadDataset(tgt, pad_idx=pad),
                "nsentences": NumSamplesDataset(),
                "ntokens": NumelDataset(src, reduce=True),
            },
            sizes=[src.sizes],
        )

    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        if self.cfg.mask_whole_words:
            raise ValueError("--mask-whole-words is not supported by the xling_mlm task")
        per_language = [self._language_dataset(split, i, epoch) for i in range(len(self.langs))]
        if split == self.cfg.train_subset:
            dataset, _ = temperature_resample(
                per_language,
                self.langs,
                alpha=self.cfg.multilang_sampling_alpha,
                seed=self.cfg.seed,
                epoch=epoch,
            )
        else:
            dataset = LanguageGroupedDataset(per_language)
        logger.info(
            "%s: %s",
            split,
            ", ".join(f"{lang}={len(d)} blocks" for lang, d in zip(self.langs, dataset.datasets)),
        )
        self.datasets[split] = dataset

    def build_model(self, cfg, from_checkpoint=False):
        model = super().build_model(cfg, from_checkpoint)
        within_language = bool(getattr(model.encoder, "lang_specific_embeddings", False))
        if within_language != self.replace_within_language:
            self.replace_within_language = within_language
            # fairseq loads the validation split before the model is built: rebuild
            # whatever is loaded so its random replacements follow the model's rule
            for split in list(self.datasets):
                self.load_dataset(split)
        return model

    def begin_epoch(self, epoch, model):
        model.set_epoch(epoch)


class BatchLanguageDataset(FairseqDataset):
    """Every sample's language id, collated to one Python int per batch.

    Collation reads the samples, not this dataset's own id: fairseq collates a
    concatenation of languages with the first language's collater.
    """

    def __init__(self, lang_id: int, size: int):
        self.lang_id, self.size = lang_id, size

    def __getitem__(self, index):
        return self.lang_id

    def __len__(self):
        return self.size

    def collater(self, samples):
        langs = set(samples)
        if len(langs) != 1:
            raise ValueError(f"a batch mixes languages {sorted(langs)}: xling_mlm batches one language at a time")
        return langs.pop()


def parse_langs(langs: str) -> List[str]:
    parsed = [lang.strip() for lang in (langs or "").split(",") if lang.strip()]
    if not parsed:
        raise ValueError("--langs (task.langs) is required, e.g. --langs en,fr")
    if len(set(parsed)) != len(parsed):
        raise ValueError(f"--langs (task.langs) lists a language twice: {langs!r}")
    return parsed


def count_token_ids(dataset, minlength: int, chunk: int = 1 << 26) -> np.ndarray:
    """Histogram of the ids of an indexed dataset, read in chunks so memory stays bounded."""
    buffer = getattr(dataset, "_bin_buffer", None)
    index = getattr(dataset, "_index", None)
    if buffer is not None and index is not None:  # MMapIndexedDataset: read the raw token file
        tokens = np.frombuffer(buffer, dtype=index.dtype)
        pieces = (tokens[start : start + chunk] for start in range(0, len(tokens), chunk))
    else:
        pieces = (np.asarray(dataset[i]) for i in range(len(dataset)))
    counts = np.zeros(minlength, dtype=np.int64)
    for piece in pieces:
        piece_counts = np.bincount(piece.astype(np.int64), minlength=minlength)
        if len(piece_counts) > len(counts):
            piece_counts[: len(counts)] += counts
            counts = piece_counts
        else:
            counts += piece_counts
    return counts
