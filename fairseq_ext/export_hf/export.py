"""Export an xling_roberta checkpoint as Hugging Face XLM-R folders, checked against fairseq.

Layout of the output folder ``OUT``:

- one model for all languages (nothing language-specific, and one sentencepiece model
  for all languages): ``OUT`` itself is the XLM-R folder;
- otherwise one XLM-R folder per language, ``OUT/<lang>``, with that language's weights
  (see ``weights``) and tokenizer (see ``tokenizer``).

Everything is written under a temporary name next to ``OUT`` and renamed once every
folder has passed the check, so a failure leaves no partial output. A failed write (a full
disk) is an OSError that names ``OUT``.
"""

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Dict, Optional

from fairseq import checkpoint_utils
from safetensors import SafetensorError
from transformers import XLMRobertaForMaskedLM

from fairseq_ext.export_hf.check import TOLERANCE, ExportCheckError, check_folder, sample_sentences
from fairseq_ext.export_hf.tokenizer import aligned_sentencepiece, hf_tokenizer
from fairseq_ext.export_hf.weights import XlingCheckpoint, max_tokens
from fairseq_ext.vocab import Vocabulary

# a write that found no room (safetensors raises its own SafetensorError for these)
WRITE_FAILURES = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def export(
    checkpoint,
    out,
    data_dir: Optional[str] = None,
    check_split: str = "valid",
    check_sentences: int = 16,
) -> Dict[str, float]:
    """Write ``out``; return the largest |logit difference| of each folder (by language, or
    ``"all"`` for a single folder)."""
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists: choose a new output folder")
    ckpt = XlingCheckpoint.load(checkpoint)
    data_dir = Path(data_dir or ckpt.data_dir)
    vocab = Vocabulary.load(data_dir)
    missing = [lang for lang in ckpt.langs if lang not in vocab.langs]
    if missing:
        raise ValueError(
            f"{data_dir / 'vocab.json'} has no language {', '.join(missing)} of {ckpt.path} "
            f"(task.langs = {','.join(ckpt.langs)}): pass the model's data folder with --data-dir"
        )
    ckpt.hf_config()  # refuses what XLM-R cannot hold before anything heavy runs
    if len(vocab.dictionary) != ckpt.dictionary_size:
        raise ValueError(
            f"{data_dir / 'dict.txt'} gives {len(vocab.dictionary)} ids (with <mask>), but {ckpt.path} "
            f"reads {ckpt.dictionary_size}: pass the model's data folder with --data-dir"
        )

    models, _, task = checkpoint_utils.load_model_ensemble_and_task(
        [str(ckpt.path)], arg_overrides={"data": str(data_dir)}
    )
    fairseq_model = models[0].eval()
    # the weights as loaded: a checkpoint saved with whole-dictionary Sep Emb tables comes converted
    ckpt.state_dict = fairseq_model.state_dict()
    lang_ids = {lang: i for i, lang in enumerate(ckpt.langs)}
    sentences = {lang: sample_sentences(task, vocab, lang, check_split, check_sentences) for lang in ckpt.langs}
    one_tokenizer = len({vocab.processors[lang].serialized_model_proto() for lang in ckpt.langs}) == 1 and not any(
        vocab.piece_prefix[lang] for lang in ckpt.langs
    )
    # folder name -> the languages it serves
    folders = (
        {"": ckpt.langs}
        if ckpt.same_weights_for_all_languages and one_tokenizer
        else {lang: [lang] for lang in ckpt.langs}
    )

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp's folder is private; the export is an ordinary folder
    try:
        results = {}
        for name, langs in folders.items():
            folder = staging / name
            write_folder(folder, ckpt, vocab, langs[0])
            try:
                difference = check_folder(
                    folder, fairseq_model, vocab, {lang: sentences[lang] for lang in langs}, lang_ids
                )
            except ExportCheckError as e:
                raise ExportCheckError(f"{out / name}: {e}; nothing was written") from None
            write_model_card(folder, ckpt, vocab, data_dir, langs, difference, check_split, check_sentences)
            results[name or "all"] = difference
        os.rename(staging, out)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, SafetensorError) or getattr(error, "errno", None) in WRITE_FAILURES:
            raise OSError(f"{out}: writing the export failed ({error}); nothing was written") from error
        raise
    return results


def write_folder(folder: Path, ckpt: XlingCheckpoint, vocab: Vocabulary, lang: str) -> None:
    """``lang``'s model, tokenizer and sentencepiece model as a standard XLM-R folder."""
    lang_id = ckpt.langs.index(lang)
    config = ckpt.hf_config(lang_id)
    model = XLMRobertaForMaskedLM(config)
    model.load_state_dict(ckpt.hf_state_dict(lang_id), strict=True)
    model.save_pretrained(folder)
    ids = ckpt.vocabulary_ids(lang_id)
    aligned = aligned_sentencepiece(vocab, lang, None if ids is None else ids.tolist())
    (folder / "sentencepiece.bpe.model").write_bytes(aligned.SerializeToString())
    hf_tokenizer(aligned, model_max_length=max_tokens(config)).save_pretrained(folder)


def write_model_card(folder: Path, ckpt, vocab, data_dir, langs, difference, check_split, check_sentences) -> None:
    config = ckpt.hf_config(ckpt.langs.index(langs[0]))
    served = ", ".join(langs)
    if len(langs) == 1 and len(ckpt.langs) > 1:
        scope = (
            f"This folder is the model as fairseq runs it for **{served}**: {served}'s own parameters "
            "where the setting separates them, the shared ones elsewhere"
            + (", and its language vector in `token_type_embeddings`" if ckpt.language_embeddings else "")
            + ". Its tokenizer gives the ids of the training dictionary for this language."
        )
    else:
        scope = "The same weights and tokenizer serve every language of the model."
    front_matter = {
        "language": langs,
        "library_name": "transformers",
        "pipeline_tag": "fill-mask",
        "tags": ["xlm-roberta", "xling"],
    }
    vocabulary = f"{vocab.setting}: {len(vocab.dictionary)} ids (`dict.txt` and `<mask>`)"
    if ckpt.vocabulary_ids(ckpt.langs.index(langs[0])) is not None:
        vocabulary += f"; this folder's language has its own {config.vocab_size} of them, ids 0..{config.vocab_size - 1} here"
    size = (
        f"{config.num_hidden_layers} layers, {config.hidden_size} dimensions, {config.num_attention_heads} heads, "
        f"FFN {config.intermediate_size}, {max_tokens(config)} positions"
    )
    check = (
        f"{check_sentences} `{check_split}` sentences per language: the tokenizer's ids equal fairseq's; "
        f"largest logit difference {difference:.2g} (allowed {TOLERANCE})"
    )
    card = f"""---
{json.dumps(front_matter)}
---
# xling_roberta, {ckpt.sharing_setting()}: {served}

A masked LM of the study *Emerging Cross-lingual Structure in Pretrained Language Models*
(Conneau, Wu et al., ACL 2020), trained with the xling fairseq plugin and exported by
`python -m fairseq_ext.export_hf` as a standard XLM-R model. {scope}

| | |
|---|---|
| parameter sharing | {ckpt.sharing_setting()} |
| languages of the model | {", ".join(ckpt.langs)} (this folder: {served}) |
| vocabulary | {vocabulary} |
| data | `{data_dir}` |
| training | {ckpt.num_updates} updates (`{ckpt.path.name}`, `--arch {ckpt.arch}`) |
| size | {size} |
| export check | {check} |

```python
from transformers import pipeline

fill_mask = pipeline("fill-mask", model="path/to/this/folder")
fill_mask("... <mask> ...")
```
"""
    (folder / "README.md").write_text(card, encoding="utf-8")
