"""Tokenizer files whose ids are the model's dictionary ids, for one language.

XLM-R's convention is ``model id = sentencepiece id + 1``, with ``<s> <pad> </s> <unk>``
at 0-3 and ``<mask>`` last. A joint data folder meets it as written (``dict.txt`` is the
model's pieces in order). In union and no-anchors folders ``dict.txt`` interleaves the
languages' pieces, so each language gets a rewritten sentencepiece model: its pieces in
``dict.txt`` order, with the other languages' pieces marked UNUSED, which sentencepiece
never emits. A joint model comes out unchanged.

Characters the language's model does not know: ``fairseq_ext.vocab`` (like the corpus
pipeline) looks sentencepiece's piece for them up by its string in ``dict.txt``. So the
other languages' single characters stay usable here and get their ids, as in fairseq. One
case differs, in union folders only: a run of two or more such characters is a single
piece for fairseq (looked up whole, so usually ``<unk>``), one id per known character here.

The Hugging Face tokenizer (``tokenizer.json``) is built from that aligned model: BPE
merges from the language's own pieces only (the other languages' pieces stay in the
vocabulary, so their ids decode, but no merge produces them), or the Unigram scores.
"""

from typing import List, Optional, Sequence

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as spm_pb2
from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import BPE, Unigram
from transformers import PreTrainedTokenizerFast
from transformers.tokenization_utils_base import generate_merges

from fairseq_ext.vocab import Vocabulary

Piece = spm_pb2.ModelProto.SentencePiece
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"]  # fairseq's Dictionary ids 0-3, as in XLM-R
MASK = "<mask>"


def _dictionary_symbols(vocab: Vocabulary, ids: Optional[Sequence[int]] = None) -> List[str]:
    """The symbols of dict.txt in id order (without fairseq's specials and <mask>), or those of ``ids``."""
    d = vocab.dictionary
    if ids is None:
        return d.symbols[d.nspecial : d.index(MASK)]
    return [d.symbols[i] for i in ids if d.nspecial <= i < d.index(MASK)]


def _model_proto(processor: spm.SentencePieceProcessor) -> spm_pb2.ModelProto:
    proto = spm_pb2.ModelProto()
    proto.ParseFromString(processor.serialized_model_proto())
    return proto


def _check_supported(proto: spm_pb2.ModelProto, where: str) -> None:
    """Refuse sentencepiece options that the XLM-R style pipeline below does not reproduce."""
    normalizer, trainer = proto.normalizer_spec, proto.trainer_spec
    problems = []
    if trainer.model_type not in (spm_pb2.TrainerSpec.BPE, spm_pb2.TrainerSpec.UNIGRAM):
        problems.append(f"model_type {spm_pb2.TrainerSpec.ModelType.Name(trainer.model_type)} (BPE or UNIGRAM only)")
    if trainer.byte_fallback:
        problems.append("byte_fallback")
    if trainer.treat_whitespace_as_suffix or not trainer.split_by_whitespace:
        problems.append("whitespace inside or after pieces")
    if not (normalizer.add_dummy_prefix and normalizer.remove_extra_whitespaces and normalizer.escape_whitespaces):
        problems.append("non-default whitespace normalization")
    if any(p.type == Piece.USER_DEFINED for p in proto.pieces):
        problems.append("user-defined symbols")
    if problems:
        raise ValueError(f"{where}: cannot export a sentencepiece model with " + ", ".join(problems))


def aligned_sentencepiece(vocab: Vocabulary, lang: str, ids: Optional[Sequence[int]] = None) -> spm_pb2.ModelProto:
    """``lang``'s sentencepiece model with its pieces in dict.txt order: sentencepiece id = model id - 1.

    ``ids``: the dictionary ids of the model's rows when the language has its own vocabulary
    (Sep Emb); model id = row, and a character outside it is ``<unk>``, as fairseq reads it.
    """
    where = f"the sentencepiece model of '{lang}' in {vocab.data_dir}"
    own = _model_proto(vocab.processors[lang])
    _check_supported(own, where)
    own_pieces = {p.piece: p for p in own.pieces if p.type == Piece.NORMAL}
    prefix = vocab.piece_prefix[lang]
    # the other languages' pieces sort after all of this language's, so that sentencepiece's
    # BPE, which still merges UNUSED pieces (and then splits them again), tries them last
    unused_score = min((p.score for p in own_pieces.values()), default=0.0) - 1.0

    aligned = spm_pb2.ModelProto()
    aligned.CopyFrom(own)
    del aligned.pieces[:]
    aligned.pieces.add(piece="<unk>", type=Piece.UNKNOWN, score=0.0)
    aligned.pieces.add(piece="<s>", type=Piece.CONTROL, score=0.0)
    aligned.pieces.add(piece="</s>", type=Piece.CONTROL, score=0.0)
    spec = aligned.trainer_spec
    spec.unk_id, spec.bos_id, spec.eos_id, spec.pad_id = 0, 1, 2, -1
    spec.unk_piece, spec.bos_piece, spec.eos_piece = "<unk>", "<s>", "</s>"

    seen = set()
    for symbol in _dictionary_symbols(vocab, ids):
        own_piece = own_pieces.get(symbol[len(prefix) :]) if symbol.startswith(prefix) else None
        if own_piece is not None:
            aligned.pieces.add().CopyFrom(own_piece)
        elif len(symbol) == 1:
            # a character this language's model does not know is looked up by its surface
            # string in dict.txt (fairseq_ext.vocab, preprocess/binarize.py), so another
            # language's single-character piece must stay reachable
            aligned.pieces.add(piece=symbol, type=Piece.NORMAL, score=unused_score)
        else:
            aligned.pieces.add(piece=symbol, type=Piece.UNUSED, score=unused_score)
        if aligned.pieces[-1].piece in seen:
            raise ValueError(
                f"{vocab.data_dir / 'dict.txt'}: '{aligned.pieces[-1].piece}' would appear twice in {where} "
                "once aligned to the dictionary"
            )
        seen.add(aligned.pieces[-1].piece)
    missing = own_pieces.keys() - seen
    if missing:
        raise ValueError(
            f"{where} has {len(missing)} pieces that {vocab.data_dir / 'dict.txt'} lacks (e.g. "
            f"'{prefix}{sorted(missing)[0]}'): the dictionary was not built from this model"
        )
    if _is_unigram(aligned) and any(p.type == Piece.UNUSED for p in aligned.pieces):
        # a Hugging Face Unigram model has no unused pieces: it would segment with the
        # other languages' pieces too
        raise ValueError(
            f"{where} is a Unigram model in a '{vocab.setting}' folder: only BPE models can be exported "
            "with a dictionary shared by several sentencepiece models"
        )
    return aligned


def _is_unigram(proto: spm_pb2.ModelProto) -> bool:
    return proto.trainer_spec.model_type == spm_pb2.TrainerSpec.UNIGRAM


def hf_tokenizer(aligned: spm_pb2.ModelProto, model_max_length: int) -> PreTrainedTokenizerFast:
    """A fast tokenizer that segments like ``aligned`` and returns the model's ids."""
    pieces = aligned.pieces[3:]  # after <unk> <s> </s>, which SPECIAL_TOKENS replace
    tokens = SPECIAL_TOKENS + [p.piece for p in pieces] + [MASK]
    if _is_unigram(aligned):
        scores = [0.0] * len(SPECIAL_TOKENS) + [p.score for p in pieces] + [0.0]
        model = Unigram(list(zip(tokens, scores)), unk_id=tokens.index("<unk>"), byte_fallback=False)
    else:
        merged = {p.piece: p.score for p in pieces if p.type == Piece.NORMAL}
        merges = generate_merges({piece: i for i, piece in enumerate(merged)}, merged)
        model = BPE(
            {token: i for i, token in enumerate(tokens)}, merges, unk_token="<unk>", fuse_unk=True, byte_fallback=False
        )
    backend = Tokenizer(model)
    charsmap = aligned.normalizer_spec.precompiled_charsmap
    if charsmap:
        backend.normalizer = normalizers.Precompiled(charsmap)
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")]
    )
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", tokens.index("<s>")), ("</s>", tokens.index("</s>"))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        # as XLM-R's: "a <mask>." masks the word with its leading space
        mask_token=AddedToken(MASK, lstrip=True, special=True),
        model_max_length=model_max_length,
    )
