"""Text to model ids for a data folder, following its ``vocab.json`` (see README, "Data layout").

The one place where fine-tuning, analysis and export turn text into the ids the model
was trained on: sentencepiece pieces of the text's language, prefixed with the language
tag in the no-anchors setting, looked up in ``dict.txt`` (plus ``<mask>``, appended by
the task, so ids match the model's embedding rows).
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import sentencepiece as spm
import torch
from fairseq.data import Dictionary

SETTINGS = ("joint", "union", "no_anchors", "extra_anchors")


@dataclass
class Vocabulary:
    data_dir: Path
    setting: str
    langs: List[str]
    dictionary: Dictionary
    processors: Dict[str, spm.SentencePieceProcessor]
    piece_prefix: Dict[str, str]

    @classmethod
    def load(cls, data_dir) -> "Vocabulary":
        data_dir = Path(data_dir)
        manifest_path = data_dir / "vocab.json"
        if not manifest_path.exists():
            raise FileNotFoundError(
                f"{manifest_path} is missing: the corpus pipeline (preprocess/) writes it next to "
                "dict.txt to say how text becomes ids"
            )
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        for key in ("setting", "langs", "sentencepiece"):
            if key not in manifest:
                raise ValueError(f"{manifest_path} has no '{key}' entry")
        if manifest["setting"] not in SETTINGS:
            raise ValueError(
                f"{manifest_path}: unknown setting {manifest['setting']!r} (expected one of {SETTINGS})"
            )
        dictionary = Dictionary.load(str(data_dir / "dict.txt"))
        dictionary.add_symbol("<mask>")  # as the masked-LM task does, so ids match the model
        processors = {}
        for lang in manifest["langs"]:
            if lang not in manifest["sentencepiece"]:
                raise ValueError(f"{manifest_path}: no sentencepiece model for language '{lang}'")
            model_path = data_dir / manifest["sentencepiece"][lang]
            if not model_path.exists():
                raise FileNotFoundError(f"{model_path} (the sentencepiece model of '{lang}') is missing")
            processors[lang] = spm.SentencePieceProcessor(model_file=str(model_path))
        prefix = manifest.get("piece_prefix") or {}
        return cls(
            data_dir=data_dir,
            setting=manifest["setting"],
            langs=list(manifest["langs"]),
            dictionary=dictionary,
            processors=processors,
            piece_prefix={lang: prefix.get(lang, "") for lang in manifest["langs"]},
        )

    def _processor(self, lang: str) -> spm.SentencePieceProcessor:
        if lang not in self.processors:
            raise KeyError(f"language '{lang}' is not in {self.data_dir / 'vocab.json'} ({self.langs})")
        return self.processors[lang]

    def pieces(self, text: str, lang: str) -> List[str]:
        prefix = self.piece_prefix.get(lang, "")
        return [prefix + piece for piece in self._processor(lang).encode(text, out_type=str)]

    def language_ids(self, lang: str) -> List[int]:
        """The dictionary ids of every piece ``lang``'s sentencepiece model can produce."""
        processor, prefix = self._processor(lang), self.piece_prefix.get(lang, "")
        indices = self.dictionary.indices
        pieces = (
            prefix + processor.id_to_piece(i)
            for i in range(processor.get_piece_size())
            if not (processor.is_control(i) or processor.is_unknown(i) or processor.is_unused(i))
        )
        return sorted({indices[piece] for piece in pieces if piece in indices})

    def piece_ids(self, pieces: Sequence[str]) -> List[int]:
        return [self.dictionary.index(piece) for piece in pieces]

    def encode(self, text: str, lang: str) -> torch.LongTensor:
        """``<s> pieces </s>`` as model ids, the way the model saw sentences in pretraining."""
        ids = self.piece_ids(self.pieces(text, lang))
        return torch.tensor([self.dictionary.bos(), *ids, self.dictionary.eos()], dtype=torch.long)

    def decode(self, ids: Sequence[int], lang: str) -> str:
        """The text of model ids (without <s> and </s>): the pieces joined as sentencepiece does."""
        prefix = self.piece_prefix.get(lang, "")
        pieces = (self.dictionary[i] for i in ids)
        text = "".join(p[len(prefix) :] if p.startswith(prefix) else p for p in pieces)
        return text.replace("▁", " ").strip()

    def encode_words(self, words: Sequence[str], lang: str) -> Tuple[torch.LongTensor, torch.LongTensor]:
        """Ids of pre-split words, and the position of each word's first subword.

        Each word is encoded on its own, as taggers and parsers need a fixed word segmentation.
        """
        ids, first_positions = [self.dictionary.bos()], []
        for word in words:
            word_ids = self.piece_ids(self.pieces(word, lang)) or [self.dictionary.unk()]
            first_positions.append(len(ids))
            ids.extend(word_ids)
        ids.append(self.dictionary.eos())
        return torch.tensor(ids, dtype=torch.long), torch.tensor(first_positions, dtype=torch.long)
