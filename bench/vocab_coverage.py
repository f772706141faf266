"""Per-language sizes and vocabulary coverage of a corpus-pipeline output folder, as Markdown.

For each language: lines (and characters) of its pretraining text per split, its subword
tokens per split in the joint and union folders, and its sentencepiece model's pieces
V_l; for the union folder, how many ``dict.txt`` ids each language's pieces cover, how
many of them no other language has, and the dictionary's size beside sum_l V_l.

    python -m preprocess.run configs/data/registry_5lang.yaml
    python bench/vocab_coverage.py data/registry_5lang
"""

import argparse
import json
import sys
from pathlib import Path

import sentencepiece as spm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from preprocess.splits import SPLITS  # noqa: E402
from preprocess.textio import read_documents  # noqa: E402
from preprocess.vocab import model_pieces  # noqa: E402


def dict_symbols(folder: Path) -> list:
    return [line.rsplit(" ", 1)[0] for line in (folder / "dict.txt").read_text(encoding="utf-8").splitlines()]


def text_size(path: Path):
    lines = chars = 0
    for doc in read_documents(path):
        lines += len(doc)
        chars += sum(len(line) for line in doc)
    return lines, chars


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", type=Path, help="the pipeline's work folder, e.g. data/registry_5lang")
    args = parser.parse_args(argv)
    manifest = json.loads((args.work / "manifest.json").read_text(encoding="utf-8"))
    cfg, stages = manifest["config"], manifest["stages"]
    langs, domain = cfg["langs"], cfg["pretrain"]["domain"]
    folders = [f for f in ("joint", "union") if f"binarize/{f}" in stages]

    out = ["| lang | " + " | ".join(f"{s} lines" for s in SPLITS) + " | train chars | "
           + " | ".join(f"{f} {s} tokens" for f in folders for s in ("train", "valid")) + " |",
           "|---" * (2 + len(SPLITS) + 2 * len(folders)) + "|"]
    for lang in langs:
        sizes = [text_size(args.work / "text" / domain / f"{lang}.{s}") for s in SPLITS]
        tokens = [stages[f"binarize/{f}"]["report"][f"{lang}.{s}"]["pieces"] for f in folders for s in ("train", "valid")]
        out.append(f"| {lang} | " + " | ".join(f"{n:,}" for n, _ in sizes) + f" | {sizes[0][1]:,} | "
                   + " | ".join(f"{n:,}" for n in tokens) + " |")

    if "union" in folders:
        union = args.work / "bin" / "union"
        vocab = json.loads((union / "vocab.json").read_text(encoding="utf-8"))
        symbols = dict_symbols(union)
        index = {s: i for i, s in enumerate(symbols)}
        own = {lang: model_pieces(union / vocab["sentencepiece"][lang]) for lang in langs}
        out += ["", "Union folder (`bin/union/dict.txt`, "
                f"{len(symbols):,} symbols, plus fairseq's 4 specials and `<mask>` added by the task):", "",
                "| lang | V_l (sentencepiece pieces) | dict ids covered | ids only this language has | "
                "ids shared with English |", "|---|---|---|---|---|"]
        for lang in langs:
            ids = {index[p] for p in own[lang] if p in index}
            others = set().union(*({index[p] for p in own[o]} for o in langs if o != lang))
            english = {index[p] for p in own["en"]}
            out.append(f"| {lang} | {len(own[lang]):,} | {len(ids):,} | {len(ids - others):,} | "
                       f"{len(ids & english) if lang != 'en' else '-'} |")
        total = sum(len(p) for p in own.values())
        out += ["", f"Σ_l V_l = {total:,}; union dict.txt = {len(symbols):,} "
                f"({total - len(symbols):,} ids saved by identical pieces, {len(symbols) / total:.3f} of Σ_l V_l)."]
    if "joint" in folders:
        joint = dict_symbols(args.work / "bin" / "joint")
        out += ["", f"Joint folder: dict.txt = {len(joint):,} symbols (one sentencepiece model for all languages)."]
    print("\n".join(out))


if __name__ == "__main__":
    main()
