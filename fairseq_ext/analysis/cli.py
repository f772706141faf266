"""``python -m fairseq_ext.analysis CONFIG [key=value ...] [--only bli,cka]``: run the
configured analyses on the contract files and write, under ``out_dir``:

- ``bli/``: ``bli.{csv,md}``, ``bli_<pair>_<comparison>.png`` (P@1 per layer, with the
  input-embedding and fastText results as reference lines);
- ``retrieval/``: ``retrieval.{csv,md}``, ``retrieval_<pair>.png``, ``retrieval_hits.csv``
  (each test query's hit or miss per pair, comparison, layer and P@1 column);
- ``cka/``: ``cka_<pair>_<comparison>.{csv,png}`` (layer x layer), ``cka_layers.{csv,md}``
  and ``cka_<pair>.png`` (the paper's Figure 7: same layer, and the average, per comparison),
  ``cka_layers_<pair>.png``; with ``cka.bootstrap`` resamples, ``cka_layers`` has the
  bootstrap standard error ``cka_se`` and ``cka_bootstrap.csv`` the replicates (one row per
  pair, comparison and layer; columns ``r0``...), every comparison of a pair resampled with
  the same sentence indices so that differences between them can be bootstrapped too;
- ``word_maps/``: ``<pair>_<comparison>.pt`` (one map per layer), ``word_maps.{csv,md}``,
  ``word_maps_<pair>.png``;
- ``summary.json``: the files written, per analysis (a run with ``--only`` updates its
  analyses' entries).
"""

import argparse
import json
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import torch

from fairseq_ext.analysis import bli, data, plots, retrieval, word_alignment
from fairseq_ext.analysis.cka import bootstrap_indices, cka_matrix, same_layer_bootstrap
from fairseq_ext.analysis.config import AnalysisConfig, Side, load_config
from fairseq_ext.analysis.representations import encode_words, load_model, sentence_vectors
from fairseq_ext.analysis.tables import read_table, write_csv, write_tables
from fairseq_ext.analysis.word_alignment import (
    align_words,
    contextual_word_pairs,
    learn_layer_maps,
    word_retrieval_by_layer,
)
from fairseq_ext.analysis.words import chunks, word_of
from xling import files, logs
from fairseq_ext.transfer.finetune import resolve_device
from fairseq_ext.transfer.model import Pretrained

logger = logging.getLogger("fairseq_ext.analysis")


SUMMARY = "summary.json"
# analysis -> its table under OUT, without suffix (write_tables writes .csv and .md)
TABLES = {"bli": "bli/bli", "retrieval": "retrieval/retrieval", "cka": "cka/cka_layers", "word_maps": "word_maps/word_maps"}
CKA_BOOTSTRAP = "cka/cka_bootstrap.csv"


def read_written(out_dir) -> Dict[str, List[str]]:
    """``summary.json``: analysis -> the files it wrote ({} where no analysis ran)."""
    path = Path(out_dir) / SUMMARY
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def read_analysis_table(out_dir, analysis: str) -> List[Dict[str, str]]:
    """The rows of ``analysis``'s table, as text ([] where it did not run)."""
    path = Path(out_dir) / f"{TABLES[analysis]}.csv"
    return read_table(path) if path.exists() else []


def _layer_names(n: int) -> List[str]:
    return [f"L{i}" for i in range(n)]


def _replicate_columns(replicates) -> Dict[str, float]:
    return {f"r{i}": float(v) for i, v in enumerate(replicates)}


def read_cka_bootstrap(out_dir) -> Dict[Tuple[str, str, str], np.ndarray]:
    """(pair, comparison, layer) -> the bootstrap replicates of ``cka/cka_bootstrap.csv``, in
    resample order (the same resamples for every comparison of a pair); {} where none ran."""
    out = {}
    path = Path(out_dir) / CKA_BOOTSTRAP
    for row in read_table(path) if path.exists() else []:
        columns = sorted((k for k in row if k.startswith("r") and k[1:].isdigit()), key=lambda k: int(k[1:]))
        out[row["pair"], row["comparison"], row["layer"]] = np.array([float(row[k]) for k in columns])
    return out


class Runner:
    def __init__(self, cfg: AnalysisConfig):
        self.cfg = cfg
        self.out = Path(cfg.out_dir)
        self.device = resolve_device(cfg.device)
        self._models: Dict[str, Pretrained] = {}
        self._sentences: Dict[Tuple, torch.Tensor] = {}
        self._alignments: dict = {}  # eflomal's links per parallel text, for align_words
        self.written: Dict[str, List[str]] = {}

    # ------------------------------------------------------------------ inputs

    def model(self, side: Side) -> Pretrained:
        if side.key() not in self._models:
            spec = self.cfg.models[side.model]
            model = load_model(spec.checkpoint, spec.vocab_dir, side.random_seed)
            model.lang_id(side.lang)  # fails early, naming the checkpoint's languages
            self._models[side.key()] = model
        return self._models[side.key()]

    def sentence_vectors(self, side: Side, path: Path, sentences: List[str]) -> torch.Tensor:
        key = (side.key(), str(path), len(sentences))
        if key not in self._sentences:
            self._sentences[key] = sentence_vectors(
                self.model(side), sentences, side.lang, self.cfg.batch_size, self.device
            )
        return self._sentences[key]

    def parallel(self, set_name: str, pair: str, limit=None):
        target_path, english_path = data.parallel_paths(self.cfg.eval_dir, set_name, pair)
        target, english = data.read_parallel(target_path, english_path, limit)
        return (target_path, target), (english_path, english)

    def record(self, analysis: str, paths) -> None:
        self.written.setdefault(analysis, []).extend(str(p) for p in paths)

    # ---------------------------------------------------------------- analyses

    def run_bli(self) -> None:
        cfg, out = self.cfg.bli, self.out / "bli"
        rows = []
        texts = {lang: data.read_text(path, cfg.max_sentences) for lang, path in cfg.text.items()}

        def word_lists(lang):  # a generator, so no copy of the text is kept as words
            return ([w for w in (word_of(c, self.cfg.lowercase) for c in chunks(s, lang)) if w] for s in texts[lang])

        fasttext_models = {}
        if cfg.fasttext.enabled:
            for lang in {l for pair, *_ in self.cfg.selected("bli", cfg.pairs, cfg.comparisons) for l in ("en", pair)}:
                logger.info("fastText baseline: training on %d %s sentences", len(texts[lang]), lang)
                ft = cfg.fasttext
                fasttext_models[lang] = bli.train_fasttext(word_lists(lang), ft.dim, ft.epochs, ft.min_count, ft.threads)
        for pair, comparison, english_side, target_side in self.cfg.selected("bli", cfg.pairs, cfg.comparisons):
            train = data.read_dictionary(cfg.train_dictionary.format(lang=pair))
            test = data.read_dictionary(cfg.test_dictionary.format(lang=pair))
            if cfg.resplit:
                frequency = Counter(w for words in word_lists("en") for w in words)
                train, test = bli.frequency_split(train + test, frequency, cfg.seed_words, cfg.test_words)
            where = f"bli {pair}/{comparison} ({cfg.train_dictionary.format(lang=pair)})"
            base = {"pair": pair, "comparison": comparison}
            spaces = {}
            for role, side, lang in (("english", english_side, "en"), ("target", target_side, pair)):
                model = self.model(side)
                encoded = encode_words(model, texts[lang], side.lang, self.cfg.lowercase)
                words = bli.frequent_words(encoded, cfg.max_words, cfg.min_count)
                embedding = bli.input_embedding_space(model, side.lang, self.cfg.lowercase)
                spaces[role] = {
                    "input embeddings": embedding,
                    "contextual": bli.contextual_spaces(model, encoded, side.lang, words, self.cfg.batch_size, self.device),
                }
                if cfg.fasttext.enabled:
                    spaces[role]["fastText"] = bli.fasttext_space(fasttext_models[lang], words)
                    spaces[role]["fastText (single-subword words)"] = bli.fasttext_space(fasttext_models[lang], embedding.words)

            def evaluate(space_name, source, target, layer=""):
                index = bli.index_dictionary(source, target, train, test, where)
                result = bli.translate(source, target, index, cfg.methods, cfg.csls_k)
                rows.append({**base, "space": space_name, "layer": layer, **result})
                return result

            references = {}
            for name in [n for n in spaces["english"] if n != "contextual"]:
                result = evaluate(name, spaces["english"][name], spaces["target"][name])
                references[f"{name} (aligned, {cfg.methods[-1]})"] = result[bli.column(True, cfg.methods[-1])]
            per_layer = [
                evaluate("contextual", s, t, layer)
                for layer, (s, t) in enumerate(zip(spaces["english"]["contextual"], spaces["target"]["contextual"]))
            ]
            series = {
                f"contextual {'aligned' if aligned else 'unaligned'} {method}": [
                    r[bli.column(aligned, method)] for r in per_layer
                ]
                for aligned in (True, False)
                for method in cfg.methods
            }
            self.record("bli", [plots.layer_curves(
                out / f"bli_{pair}_{comparison}.png", series, f"Word translation en→{pair} ({comparison})", "P@1", references
            )])
        self.record("bli", write_tables(rows, self.out / TABLES["bli"]))

    def run_retrieval(self) -> None:
        cfg, out = self.cfg.retrieval, self.out / "retrieval"
        rows, hit_rows, series_by_pair = [], [], {}
        for pair, comparison, english_side, target_side in self.cfg.selected("retrieval", cfg.pairs, cfg.comparisons):
            (tt_path, target_train), (et_path, english_train) = self.parallel(cfg.train_set, pair, cfg.max_train)
            (tx_path, target_test), (ex_path, english_test) = self.parallel(cfg.test_set, pair, cfg.max_test)
            hits = retrieval.hits_by_layer(
                self.sentence_vectors(target_side, tt_path, target_train),
                self.sentence_vectors(english_side, et_path, english_train),
                self.sentence_vectors(target_side, tx_path, target_test),
                self.sentence_vectors(english_side, ex_path, english_test),
                cfg.methods,
            )
            results = retrieval.rows_of(hits)
            rows += [{"pair": pair, "comparison": comparison, retrieval.TEST_SIZE: len(target_test), **r} for r in results]
            hit_rows += retrieval.hit_rows(pair, comparison, hits)
            method = cfg.methods[0]
            series = series_by_pair.setdefault(pair, {})
            series[f"{comparison} (map)"] = [r[retrieval.column(True, method)] for r in results]
            series[f"{comparison} (no map)"] = [r[retrieval.column(False, method)] for r in results]
        for pair, series in series_by_pair.items():
            self.record("retrieval", [plots.layer_curves(
                out / f"retrieval_{pair}.png", series, f"Sentence retrieval {pair}→en ({cfg.test_set})", "P@1"
            )])
        self.record("retrieval", [*write_tables(rows, self.out / TABLES["retrieval"]),
                                  write_csv(hit_rows, self.out / retrieval.HITS)])

    def run_cka(self) -> None:
        cfg, out = self.cfg.cka, self.out / "cka"
        diagonal: Dict[str, Dict[str, List[float]]] = {}
        rows, bootstrap_rows = [], []
        for pair, comparison, english_side, target_side in self.cfg.selected("cka", cfg.pairs, cfg.comparisons):
            (t_path, target), (e_path, english) = self.parallel(cfg.set, pair, cfg.max_sentences)
            xs = self.sentence_vectors(english_side, e_path, english)
            ys = self.sentence_vectors(target_side, t_path, target)
            matrix = cka_matrix(list(xs), list(ys), cfg.debiased, device=self.device)
            names_x, names_y = _layer_names(matrix.shape[0]), _layer_names(matrix.shape[1])
            prefix = out / f"cka_{pair}_{comparison}"
            files.write_text(f"{prefix}.csv", "layer," + ",".join(names_y) + "\n" + "".join(
                f"{name}," + ",".join(f"{v:.6f}" for v in row) + "\n" for name, row in zip(names_x, matrix)
            ))
            self.record("cka", [f"{prefix}.csv", plots.heatmap(
                f"{prefix}.png", matrix, names_x, names_y, f"CKA en ({english_side.key()}) vs {pair} ({target_side.key()})",
                xlabel=f"{pair} layer", ylabel="en layer",
            )])
            same_layer = list(np.diag(matrix))
            diagonal.setdefault(pair, {})[comparison] = same_layer
            layers = [*names_x[: len(same_layer)], "average"]
            new_rows = [{"pair": pair, "comparison": comparison, "layer": n, "cka": v, "sentences": len(target)}
                        for n, v in zip(layers, [*same_layer, float(np.mean(same_layer))])]
            if cfg.bootstrap:
                # the indices depend on the sentence count only: a pair's comparisons are paired
                indices = bootstrap_indices(len(target), cfg.bootstrap, cfg.bootstrap_seed)
                replicates = same_layer_bootstrap(
                    list(xs[: len(same_layer)]), list(ys[: len(same_layer)]), indices, cfg.debiased, device=self.device
                )
                replicates = np.column_stack([replicates, replicates.mean(1)])  # the layer average's own
                for row, column in zip(new_rows, replicates.T):
                    row.update(cka_se=float(np.std(column, ddof=1)), resamples=cfg.bootstrap)
                    bootstrap_rows.append({"pair": pair, "comparison": comparison, "layer": row["layer"],
                                           **_replicate_columns(column)})
            rows += new_rows
        for pair, by_comparison in diagonal.items():
            names = list(by_comparison)
            table = np.array([by_comparison[n] + [float(np.mean(by_comparison[n]))] for n in names]).T
            layers = _layer_names(table.shape[0] - 1) + ["average"]
            self.record("cka", [
                plots.heatmap(out / f"cka_{pair}.png", table, layers, names, f"CKA en vs {pair}, same layer"),
                plots.layer_curves(out / f"cka_layers_{pair}.png", by_comparison, f"CKA en vs {pair}, same layer", "CKA"),
            ])
        self.record("cka", write_tables(rows, self.out / TABLES["cka"]))
        if bootstrap_rows:
            self.record("cka", [write_csv(bootstrap_rows, self.out / CKA_BOOTSTRAP)])

    def run_word_maps(self) -> None:
        cfg, out = self.cfg.word_maps, self.out / "word_maps"
        rows, series_by_pair = [], {}
        for pair, comparison, english_side, target_side in self.cfg.selected("word_maps", cfg.pairs, cfg.comparisons):
            en_model, tgt_model = self.model(english_side), self.model(target_side)
            word_pairs = {}
            for split, set_name in (("train", cfg.train_set), ("test", cfg.test_set)):
                (_, target), (_, english) = self.parallel(set_name, pair, cfg.max_sentences)
                en_words = encode_words(en_model, english, english_side.lang, self.cfg.lowercase)
                tgt_words = encode_words(tgt_model, target, target_side.lang, self.cfg.lowercase)
                links = align_words(en_words, tgt_words, self._alignments)
                word_pairs[split] = contextual_word_pairs(
                    en_model, english_side.lang, en_words, tgt_model, target_side.lang, tgt_words, links,
                    cfg.max_pairs, self.cfg.batch_size, self.device,
                )
            maps = learn_layer_maps(word_pairs["train"], self.cfg.normalization_rounds)
            map_path = out / f"{pair}_{comparison}.pt"
            files.save_torch(map_path, {
                "english": english_side.key(), "target": target_side.key(), "train_set": cfg.train_set,
                "train_pairs": word_pairs["train"].target.shape[1], "maps": [m.state_dict() for m in maps],
            })
            results = word_retrieval_by_layer(maps, word_pairs["test"])
            rows += [{"pair": pair, "comparison": comparison, "train_pairs": word_pairs["train"].target.shape[1], **r}
                     for r in results]
            series = series_by_pair.setdefault(pair, {})
            series[f"{comparison} (map)"] = [r[word_alignment.column(True)] for r in results]
            series[f"{comparison} (no map)"] = [r[word_alignment.column(False)] for r in results]
            self.record("word_maps", [map_path])
        for pair, series in series_by_pair.items():
            self.record("word_maps", [plots.layer_curves(
                out / f"word_maps_{pair}.png", series, f"Aligned contextual words {pair}→en ({cfg.test_set})", "P@1"
            )])
        self.record("word_maps", write_tables(rows, self.out / TABLES["word_maps"]))

    def run(self, only=None) -> Dict[str, List[str]]:
        for name in only or self.cfg.analyses:
            logger.info("analysis: %s", name)
            getattr(self, f"run_{name}")()
        # a partial run (--only) keeps what earlier runs listed for the other analyses
        files.write_json(self.out / SUMMARY, {**read_written(self.out), **self.written})
        return self.written


def main(argv=None) -> int:
    from fairseq_ext import patches

    patches.apply()  # fairseq's checkpoint loading with the plugin's fixes
    parser = argparse.ArgumentParser(prog="python -m fairseq_ext.analysis", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="YAML config, e.g. configs/analysis/registry_en_ru.yaml")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. out_dir=results/analysis/x")
    parser.add_argument("--only", help="comma-separated subset of the config's analyses")
    logs.add_verbosity(parser)
    args = parser.parse_intermixed_args(argv)  # --only may come before or after the overrides
    logs.configure(args.verbose)
    cfg = load_config(args.config, args.overrides)
    only = args.only.split(",") if args.only else None
    for name in only or []:
        if name not in cfg.analyses:
            parser.error(f"--only: '{name}' is not one of the config's analyses {cfg.analyses}")
    written = Runner(cfg).run(only)
    print(json.dumps(written, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
