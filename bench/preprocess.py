"""Encode + binarize throughput of the corpus pipeline against the same steps done by hand.

Systems, on the same text (the registry corpora's joint-vocabulary pretraining text,
optionally repeated to make the job larger) and the same sentencepiece model:

- ``pipeline``: ``preprocess.binarize.build_data_folder`` (sentencepiece ids mapped to
  dict.txt's indices in worker processes, written as fairseq's mmap files directly);
- ``by_hand``: the usual recipe, ``spm_encode --output_format=piece < text > pieces`` per
  file (Debian's ``sentencepiece`` package), ``dict.txt`` cut from the model's vocabulary,
  then one ``fairseq-preprocess --only-source --srcdict dict.txt --workers N`` command per
  language.

Both run with 1 and 2 workers, alternating round by round so machine noise hits them
alike; the medians are printed with lines/s, MB/s (of input text) and the ratio
pipeline / by hand. Both must give byte-identical ``.bin`` files, which is checked.

    python -m preprocess.run configs/data/registry_en_fr.yaml   # makes the input (once)
    python bench/preprocess.py --repeat 4 --rounds 3
"""

import argparse
import filecmp
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from preprocess.binarize import DataFolder, build_data_folder  # noqa: E402
from preprocess.splits import SPLITS  # noqa: E402

SYSTEMS = ("pipeline", "by_hand")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default=str(REPO / "data/registry_en_fr"), help="a registry pipeline work folder")
    p.add_argument("--langs", default="en,fr")
    p.add_argument("--repeat", type=int, default=4, help="concatenate the training text this many times")
    p.add_argument("--workers", default="1,2")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", help="also write the results here")
    return p.parse_args(argv)


def make_input(work: Path, langs, repeat: int, dest: Path):
    texts = {}
    for lang in langs:
        texts[lang] = {}
        for split in SPLITS:
            src = work / "text/bible" / f"{lang}.{split}"
            if not src.exists():
                sys.exit(f"{src} is missing: run python -m preprocess.run configs/data/registry_en_fr.yaml first")
            out = dest / f"{lang}.{split}"
            with open(out, "w", encoding="utf-8") as f:
                for _ in range(repeat if split == "train" else 1):
                    f.write(src.read_text(encoding="utf-8"))
            texts[lang][split] = out
    return texts


def run_pipeline(texts, model: Path, workers: int, out: Path):
    langs = list(texts)
    folder = DataFolder("joint", langs, {l: model for l in langs}, texts, {l: "" for l in langs})
    build_data_folder(folder, out, workers, chunk_lines=2000)


def run_by_hand(texts, model: Path, workers: int, out: Path):
    out.mkdir()
    vocab = model.with_suffix(".vocab").read_text(encoding="utf-8").splitlines()
    (out / "dict.txt").write_text("".join(f"{line.split(chr(9))[0]} 100\n" for line in vocab[3:]), encoding="utf-8")
    for lang, splits in texts.items():
        args = []
        for split, path in splits.items():
            pieces = out / f"pieces.{lang}.{split}"
            with open(path, "rb") as src, open(pieces, "wb") as dst:
                subprocess.run(["spm_encode", f"--model={model}", "--output_format=piece"], stdin=src, stdout=dst, check=True)
            args += [f"--{split}pref", str(pieces)]
        subprocess.run(
            [str(Path(sys.executable).parent / "fairseq-preprocess"), "--only-source", "--srcdict", str(out / "dict.txt"),
             "--destdir", str(out / lang), "--workers", str(workers), "--dataset-impl", "mmap", *args],
            check=True, capture_output=True,
        )


def main(argv=None):
    args = parse_args(argv)
    work, langs = Path(args.work), args.langs.split(",")
    model = work / "spm/joint.model"
    workers_list = [int(w) for w in args.workers.split(",")]
    import fairseq_cli.preprocess  # noqa: F401 (the pipeline's process imports fairseq once, untimed)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "text").mkdir()
        texts = make_input(work, langs, args.repeat, tmp / "text")
        lines = sum(sum(1 for line in open(p, encoding="utf-8") if line.strip()) for s in texts.values() for p in s.values())
        megabytes = sum(p.stat().st_size for s in texts.values() for p in s.values()) / 1e6
        times = {(s, w): [] for s in SYSTEMS for w in workers_list}
        for rnd in range(args.rounds):
            for workers in workers_list:
                for system in SYSTEMS:
                    out = tmp / f"{system}_{workers}_{rnd}"
                    start = time.perf_counter()
                    (run_pipeline if system == "pipeline" else run_by_hand)(texts, model, workers, out)
                    times[(system, workers)].append(time.perf_counter() - start)
                same = all(filecmp.cmp(tmp / f"pipeline_{workers}_{rnd}" / lang / f"{split}.bin",
                                       tmp / f"by_hand_{workers}_{rnd}" / lang / f"{split}.bin", shallow=False)
                           for lang in langs for split in SPLITS)
                if not same:
                    sys.exit("the pipeline and the manual recipe binarized different ids")
                for system in SYSTEMS:
                    shutil.rmtree(tmp / f"{system}_{workers}_{rnd}")
    results = {"lines": lines, "megabytes": round(megabytes, 2), "rounds": args.rounds, "identical_bin": True, "runs": {}}
    print(f"input: {lines} lines, {megabytes:.1f} MB ({', '.join(langs)}; train text x{args.repeat}); "
          f"median of {args.rounds} rounds; .bin files identical: yes")
    print(f"{'system':<10} {'workers':>7} {'seconds':>8} {'lines/s':>9} {'MB/s':>6} {'vs by hand':>10}")
    for workers in workers_list:
        for system in SYSTEMS:
            sec = statistics.median(times[(system, workers)])
            ratio = statistics.median(times[("by_hand", workers)]) / sec
            results["runs"][f"{system}_{workers}"] = {"seconds": round(sec, 3), "lines_per_s": round(lines / sec),
                                                     "mb_per_s": round(megabytes / sec, 3), "speedup_vs_by_hand": round(ratio, 3)}
            print(f"{system:<10} {workers:>7} {sec:>8.2f} {lines / sec:>9.0f} {megabytes / sec:>6.2f} {ratio:>9.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
