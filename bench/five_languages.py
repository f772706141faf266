"""The paper's Section 5 languages in one study: en, fr, de, ru, zh on the registry corpora.

    python -m preprocess.run configs/data/registry_5lang.yaml     # about 2.5 minutes
    python bench/five_languages.py [--updates 6000] [--out results/five_languages]

Pretrains Default (joint vocabulary) and Sep Emb + L1-3 (union vocabulary, each
language's token table over its own pieces) with configs/tiny, through the demo's
pretraining stage (the launcher's job on the local executor, one core each, the demo's
precision). Then, for each model: bible_genre fine-tuned on English and tested on the four
other languages (against the majority class); sentence retrieval, CKA and input-embedding
word translation for every pair with English, against the random encoder; the export of
every language, checked against fairseq. Every stage reuses what a finished run wrote.
Writes OUT/summary.json and prints its tables.
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from omegaconf import OmegaConf  # noqa: E402

from fairseq_ext import patches  # noqa: E402
from fairseq_ext.mixed_precision import fastest_precision  # noqa: E402
from slurm.runs import PretrainRun  # noqa: E402
from xling import files  # noqa: E402

LANGS = ["en", "fr", "de", "ru", "zh"]
TARGETS = LANGS[1:]
MODELS = {"default": "joint", "sep_emb_l1_3": "union"}  # setting -> vocabulary folder
TRANSFER = [  # the demo's stand-in recipe (configs/demo/default.yaml), one grid point
    "train.epochs=2", "head.pooling=mean", "model.freeze_layers=4", "train.batch_size=32", "train.lr=1e-3",
]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(REPO / "data" / "registry_5lang"), help="the corpus pipeline's output folder")
    p.add_argument("--out", default=str(REPO / "results" / "five_languages"))
    p.add_argument("--updates", type=int, default=6000, help="pretraining updates per model")
    p.add_argument("--workers", type=int, default=2, help="models trained at once, one core each")
    return p.parse_args(argv)


def pretrain_runs(args, out: Path, data: Path):
    precision, _ = fastest_precision(cuda=False)
    return [
        PretrainRun(
            name=setting, config_dir=str(REPO / "configs" / "tiny"), config=setting,
            data=str((data / "bin" / folder).resolve()), langs=LANGS, seed=1,
            run_dir=str((out / "pretrain" / setting).resolve()), precision=precision,
            overrides=["checkpoint.save_interval_updates=500", f"optimization.max_update={args.updates}"],
        )
        for setting, folder in MODELS.items()
    ]


def margin_se(accuracy: float, majority: float, n: int) -> float:
    """The demo's rule (``demo.claims``): binomial SE of the model's accuracy; the majority class is fixed."""
    from fairseq_ext.demo.claims import binomial_se

    return 100 * (accuracy - majority) / binomial_se(100 * accuracy, n)


def transfer(checkpoints, data: Path, out: Path):
    from fairseq_ext.transfer.config import load_config
    from fairseq_ext.transfer.finetune import evaluated_sizes, finetune

    rows = {}
    for setting, checkpoint in checkpoints.items():
        eval_dir = data / "EVAL"
        targets = [f"data.test.{lang}={eval_dir}/classification/bible_genre/{lang}.test.tsv" for lang in TARGETS]
        cfg = load_config(str(REPO / "configs" / "transfer" / "standin_classification.yaml"), [
            f"model.checkpoint={checkpoint}", "model.name=five_languages", f"data.root={eval_dir}",
            f"out_dir={out / 'transfer' / setting}", "name=bible_genre", f"setting={setting}", *TRANSFER, *targets,
        ])
        result = finetune(cfg)
        sizes, _ = evaluated_sizes(result, TARGETS)
        row = {"en_dev": result["dev"]["accuracy"], "en_dev_majority": result["majority_baseline"]["dev"]}
        for lang in TARGETS:
            accuracy, majority = result["test"][lang]["accuracy"], result["majority_baseline"][lang]
            row[lang] = {"accuracy": accuracy, "majority": majority, "n": sizes[lang],
                         "margin_se": margin_se(accuracy, majority, sizes[lang])}
        rows[setting] = row
    return rows


def analysis_config(checkpoints, data: Path, out: Path):
    comparisons = []
    for lang in TARGETS:
        for setting in checkpoints:
            comparisons.append({"pair": lang, "name": setting, "english": f"{setting}:en", "target": f"{setting}:{lang}"})
        comparisons.append({"pair": lang, "name": "random", "english": "random:default:en", "target": f"random:default:{lang}"})
    return {
        "out_dir": str(out / "analysis"), "eval_dir": str(data / "EVAL"),
        "analyses": ["bli", "retrieval", "cka"],
        "models": {setting: {"checkpoint": str(path)} for setting, path in checkpoints.items()},
        "comparisons": comparisons,
        "bli": {"resplit": True, "seed_words": 1000, "test_words": 500, "fasttext": {"enabled": False},
                "comparisons": [*checkpoints, "random"],
                "text": {lang: str(data / "text" / "bible" / f"{lang}.train") for lang in LANGS}},
    }


def analyse(checkpoints, data: Path, out: Path):
    from fairseq_ext.analysis.cli import Runner, read_analysis_table
    from fairseq_ext.analysis.config import load_config

    config_path = out / "analysis" / "config.yaml"
    files.write_text(config_path, OmegaConf.to_yaml(OmegaConf.create(analysis_config(checkpoints, data, out))))
    runner = Runner(load_config(str(config_path)))
    runner.run()
    return {name: read_analysis_table(out / "analysis", name) for name in ("retrieval", "cka", "bli")}


def export_all(checkpoints, out: Path):
    from fairseq_ext.export_hf import export

    differences = {}
    for setting, checkpoint in checkpoints.items():
        folder, record = out / "hf" / setting, out / "hf" / f"{setting}.json"
        if not record.exists():  # the largest |logit difference| of each exported folder
            if folder.exists():  # an export that stopped before its record: redo it
                shutil.rmtree(folder)
            files.write_json(record, export(checkpoint, folder))
        differences[setting] = json.loads(record.read_text(encoding="utf-8"))
    return differences


def main(argv=None):
    args = parse_args(argv)
    patches.apply()
    from fairseq_ext.demo.pretrain import checkpoint, pretrain

    out, data = Path(args.out), Path(args.data)
    runs = pretrain_runs(args, out, data)
    seconds = pretrain(runs, args.workers, "pretraining (five languages)")
    checkpoints = {run.name: checkpoint(run) for run in runs}
    summary = {"updates": args.updates, "pretrain_seconds": seconds, "transfer": transfer(checkpoints, data, out)}
    summary["export_max_logit_difference"] = export_all(checkpoints, out)
    summary["analysis"] = analyse(checkpoints, data, out)
    files.write_json(out / "summary.json", summary)
    print_tables(summary)


def print_tables(summary):
    print("transfer (bible_genre, trained on English): accuracy % (margin over the majority class in SE)")
    for setting, row in summary["transfer"].items():
        cells = [f"{lang} {100 * row[lang]['accuracy']:.1f} ({row[lang]['margin_se']:+.1f})" for lang in TARGETS]
        print(f"  {setting:14s} en dev {100 * row['en_dev']:.1f} (majority {100 * row['en_dev_majority']:.1f})  " + "  ".join(cells))
    print("export: largest |logit difference| per folder", json.dumps(summary["export_max_logit_difference"]))
    print("retrieval P@1 % to English, best layer: with a Procrustes map / without")
    by_key = {}
    for row in summary["analysis"]["retrieval"]:
        key = (row["comparison"], row["pair"])
        aligned, unaligned = float(row["aligned_nn_to_en_p@1"]), float(row["unaligned_nn_to_en_p@1"])
        best = by_key.get(key, (0.0, 0.0))
        by_key[key] = (max(best[0], aligned), max(best[1], unaligned))
    for comparison in dict.fromkeys(c for c, _ in by_key):
        print(f"  {comparison:14s} " + "  ".join(
            f"{pair} {100 * a:.1f} / {100 * u:.1f}" for (c, pair), (a, u) in by_key.items() if c == comparison))
    print("CKA with English, average over layers")
    cka = {}
    for row in summary["analysis"]["cka"]:
        cka.setdefault((row["comparison"], row["pair"]), []).append(float(row["cka"]))
    for comparison in dict.fromkeys(c for c, _ in cka):
        print(f"  {comparison:14s} " + "  ".join(
            f"{pair} {sum(v) / len(v):.3f}" for (c, pair), v in cka.items() if c == comparison))


if __name__ == "__main__":
    main()
