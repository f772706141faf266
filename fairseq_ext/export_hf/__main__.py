"""Command line: ``python -m fairseq_ext.export_hf CHECKPOINT OUT [--data-dir DATA]``."""

import argparse

from transformers.utils import logging as transformers_logging

import fairseq_ext  # noqa: F401 (registers xling_roberta and makes its checkpoints loadable)
from fairseq_ext import patches
from fairseq_ext.export_hf import ExportCheckError, export


def main(argv=None) -> None:
    patches.apply()  # fairseq's checkpoint loading with the plugin's fixes
    parser = argparse.ArgumentParser(
        prog="python -m fairseq_ext.export_hf",
        description="Export an xling_roberta checkpoint as Hugging Face XLM-R folders (one per "
        "language when parameters or tokenizers are language-specific), checked against fairseq.",
    )
    parser.add_argument("checkpoint", help="fairseq checkpoint (.pt) of an xling_roberta model")
    parser.add_argument("out", help="output folder; must not exist")
    parser.add_argument(
        "--data-dir",
        help="the model's data folder (dict.txt, vocab.json, sentencepiece models); "
        "default: the checkpoint's task.data",
    )
    parser.add_argument("--check-split", default="valid", help="split whose sentences the check uses (default: valid)")
    parser.add_argument("--check-sentences", type=int, default=16, help="sentences per language for the check")
    args = parser.parse_args(argv)
    transformers_logging.disable_progress_bar()  # one bar per folder written and reloaded
    try:
        results = export(args.checkpoint, args.out, args.data_dir, args.check_split, args.check_sentences)
    except (OSError, ValueError, ExportCheckError) as e:
        parser.exit(1, f"{parser.prog}: error: {e}\n")
    for folder, difference in results.items():
        print(f"{folder}: max |logit difference| vs fairseq {difference:.3g}")


if __name__ == "__main__":
    main()
