"""The export's own check: an exported folder, loaded back by transformers, against fairseq.

On sample sentences of each language, the folder's tokenizer (and its sentencepiece
model, read with XLM-R's id rule) must give exactly the ids of ``fairseq_ext.vocab``, and
the masked-LM logits of the reloaded model must match the fairseq model's within
``TOLERANCE`` at every non-padding position of a padded batch.
"""

from pathlib import Path
from typing import Dict, List, Sequence

import sentencepiece as spm
import torch
from fairseq.data import data_utils
from transformers import AutoModelForMaskedLM, AutoTokenizer

from fairseq_ext.export_hf.weights import max_tokens
from fairseq_ext.vocab import Vocabulary

TOLERANCE = 1e-4


class ExportCheckError(Exception):
    """The exported folder does not reproduce the fairseq model."""


def sample_sentences(task, vocab: Vocabulary, lang: str, split: str, count: int) -> List[str]:
    """The text of the first ``count`` sentences of a binarized split that hold no <unk>."""
    prefix = task.split_prefix(split, lang)
    dataset = data_utils.load_indexed_dataset(prefix, task.source_dictionary)
    if dataset is None:
        raise FileNotFoundError(f"could not read {prefix}.{{bin,idx}} (the check's sample of '{lang}')")
    unk = task.source_dictionary.unk()
    texts = []
    for i in range(len(dataset)):
        ids = dataset[i][:-1].tolist()  # without </s>
        if ids and unk not in ids:  # an <unk> hides the text it stood for
            texts.append(vocab.decode(ids, lang))
        if len(texts) == count:
            break
    if not texts:
        raise ValueError(f"{prefix}.bin has no sentence without <unk> for the export check of '{lang}'")
    return texts


def sentencepiece_ids(processor: spm.SentencePieceProcessor, text: str) -> List[int]:
    """XLM-R's rule: <s>, sentencepiece id + 1 (its <unk>, id 0, becomes 3), </s>."""
    return [0, *(i + 1 if i else 3 for i in processor.encode(text)), 2]


def padded(sequences: Sequence[List[int]], pad: int) -> torch.LongTensor:
    batch = torch.full((len(sequences), max(map(len, sequences))), pad, dtype=torch.long)
    for row, ids in enumerate(sequences):
        batch[row, : len(ids)] = torch.tensor(ids)
    return batch


def check_folder(
    folder: Path, fairseq_model, vocab: Vocabulary, sentences: Dict[str, List[str]], lang_ids: Dict[str, int]
) -> float:
    """Raise ExportCheckError unless ``folder`` reproduces ``fairseq_model`` on ``sentences``
    (language -> texts); return the largest |logit difference|."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    processor = spm.SentencePieceProcessor(model_file=str(folder / "sentencepiece.bpe.model"))
    model = AutoModelForMaskedLM.from_pretrained(folder).eval()
    pad = vocab.dictionary.pad()
    limit = max_tokens(model.config)
    largest = 0.0
    encoder = fairseq_model.encoder.sentence_encoder
    for lang, texts in sentences.items():
        # fairseq reads dictionary ids; the folder's ids are the language's rows (the same without Sep Emb)
        dictionary_ids = [vocab.encode(text, lang) for text in texts]
        expected = [encoder.token_rows(ids, lang_ids[lang]).tolist() for ids in dictionary_ids]
        for name, got in (
            ("tokenizer", tokenizer(texts)["input_ids"]),
            ("sentencepiece model", [sentencepiece_ids(processor, text) for text in texts]),
        ):
            for text, want, have in zip(texts, expected, got):
                if want != have:
                    raise ExportCheckError(
                        f"the exported {name} gives other ids than fairseq for '{lang}' text "
                        f"{text!r}: {have} instead of {want}"
                    )
        tokens = padded([ids[:limit].tolist() for ids in dictionary_ids], pad)
        rows = padded([ids[:limit] for ids in expected], pad)
        with torch.no_grad():
            reference, _ = fairseq_model(tokens, src_lang_id=torch.full((len(texts),), lang_ids[lang]))
            exported = model(input_ids=rows, attention_mask=rows.ne(pad)).logits
        difference = (reference - exported).abs()[tokens.ne(pad)].max().item()
        if not difference <= TOLERANCE:
            raise ExportCheckError(
                f"masked-LM logits of '{lang}' differ from fairseq's by up to {difference:.3g} "
                f"(allowed: {TOLERANCE})"
            )
        largest = max(largest, difference)
    return largest
