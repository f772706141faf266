"""The demo's report: ``OUT/report.md`` and ``OUT/report.html`` (the same content; figures
are PNG files next to the results they plot, linked by relative paths).

Every number is read from files the run wrote (pretraining logs, transfer summaries and
tables, analysis tables); the paper's come from ``fairseq_ext.demo.paper``. The reading
at the end is computed from those numbers: each claim says whether this run supports it,
contradicts it, or cannot tell (a difference within twice its standard error)."""

import csv
import html
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from fairseq_ext import files
from fairseq_ext.demo.config import DemoConfig
from fairseq_ext.demo.paper import TABLE1
from fairseq_ext.transfer.table import MAJORITY, ROW_NAMES
from slurm.runs import read_log

REPORT_MD, REPORT_HTML = "report.md", "report.html"


# ------------------------------------------------------------------ document blocks


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: List[str]


@dataclass
class Table:
    header: List[str]
    rows: List[List[str]]
    css_class: str = ""


@dataclass
class Figure:
    path: Path  # relative to the report
    caption: str


def to_markdown(blocks) -> str:
    out = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append("#" * block.level + " " + block.text)
        elif isinstance(block, Paragraph):
            out.append(block.text)
        elif isinstance(block, Bullets):
            out.append("\n".join(f"- {item}" for item in block.items))
        elif isinstance(block, Table):
            lines = ["| " + " | ".join(block.header) + " |", "|" + "---|" * len(block.header)]
            lines += ["| " + " | ".join(cell or "–" for cell in row) + " |" for row in block.rows]
            out.append("\n".join(lines))
        elif isinstance(block, Figure):
            out.append(f"![{block.caption}]({block.path.as_posix()})\n\n*{block.caption}*")
    return "\n\n".join(out) + "\n"


STYLE = """
body { font-family: sans-serif; max-width: 70em; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; display: block; max-width: 100%; overflow-x: auto; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #eee; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figure img { max-width: 38em; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; max-width: 38em; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


def _inline(text: str) -> str:
    """Markdown's `code` and **bold** in HTML (the only inline marks the report uses)."""
    parts = html.escape(text).split("`")
    text = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = text.split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


def to_html(blocks, title: str) -> str:
    out = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
           f"<style>{STYLE}</style></head><body>"]
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"<h{block.level}>{_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            out.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Bullets):
            out.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in block.items) + "</ul>")
        elif isinstance(block, Table):
            cls = f' class="{block.css_class}"' if block.css_class else ""
            head = "".join(f"<th>{_inline(c)}</th>" for c in block.header)
            body = "".join("<tr>" + "".join(f"<td>{_inline(c or '–')}</td>" for c in row) + "</tr>" for row in block.rows)
            out.append(f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(block, Figure):
            src = html.escape(block.path.as_posix())
            out.append(f'<figure><img src="{src}" alt="{html.escape(block.caption)}">'
                       f"<figcaption>{_inline(block.caption)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ reading results


def read_csv(path: Path) -> List[Dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _number(text) -> Optional[float]:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _fmt(value: Optional[float], digits: int = 1, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _lines(path: Path) -> int:
    with open(path, encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


@dataclass
class TransferResults:
    """One pair's transfer results, in percent: setting -> task -> score."""

    test: Dict[str, Dict[str, float]]
    dev: Dict[str, Dict[str, float]]
    majority: Dict[str, float]  # task -> majority-class accuracy on the target test set
    test_size: Dict[str, int]  # task -> target test examples


def read_transfer(root: Path, lang: str) -> TransferResults:
    results = TransferResults({}, {}, {}, {})
    for path in sorted(root.rglob("summary.json")):
        summary = json.loads(path.read_text(encoding="utf-8"))
        task, setting = summary["column"], summary["setting"]
        if lang not in summary["test"]:
            continue
        results.test.setdefault(setting, {})[task] = 100 * summary["test"][lang]
        results.dev.setdefault(setting, {})[task] = 100 * summary["dev"]
        if "majority_baseline" in summary:
            results.majority[task] = 100 * summary["majority_baseline"][lang]
        point = path.parent / summary["best_points"][0] / "result.json"
        config = json.loads(point.read_text(encoding="utf-8"))["config"]
        results.test_size[task] = _lines(Path(config["data"]["test"][lang]))
    return results


def standard_error(p: float, n: int) -> float:
    """Of an accuracy p (percent) on n examples, in percent."""
    p = min(max(p / 100, 1e-6), 1 - 1e-6)
    return 100 * math.sqrt(p * (1 - p) / max(n, 1))


def verdict(difference: float, noise: float, expected_sign: int) -> str:
    """'supported' when the difference has the expected sign and exceeds twice its
    standard error, 'contradicted' when it is that large the other way, else 'cannot tell'."""
    if abs(difference) <= 2 * noise:
        return "cannot tell"
    return "supported" if difference * expected_sign > 0 else "contradicted"


# ------------------------------------------------------------------ report sections


def _relative(path: Path, out: Path) -> Path:
    return Path(os.path.relpath(path, out))


def pretraining_section(cfg: DemoConfig, pair: str) -> list:
    root = cfg.out / pair / "pretrain"
    rows = []
    found = {p.name: p for p in root.iterdir() if p.is_dir()} if root.exists() else {}
    for name in [n for n in ROW_NAMES if n in found] + sorted(n for n in found if n not in ROW_NAMES):
        run_dir = found[name]
        records = read_log(run_dir)
        start = next((r for r in records if r.get("tag") == "start"), {})
        valid = [r for r in records if r.get("tag") == "valid"]
        if not valid:
            continue
        last = valid[-1]
        losses = {k[len("valid_loss_"):]: float(v) for k, v in last.items() if k.startswith("valid_loss_")}
        if not losses and "valid_loss" in last:
            losses = {"all": float(last["valid_loss"])}
        submission = json.loads((run_dir / "submission.json").read_text(encoding="utf-8")) if (run_dir / "submission.json").exists() else {}
        data = Path(submission.get("run", {}).get("data", "")).name
        rows.append([ROW_NAMES.get(run_dir.name, run_dir.name), data, str(last.get("valid_num_updates", "")),
                     ", ".join(f"{lang} {value:.2f}" for lang, value in losses.items()),
                     str(start.get("adam", ""))])
    if not rows:
        return []
    return [
        Heading(3, "Pretraining"),
        Paragraph("Masked-LM loss on held-out text (bits per masked subword) of each model's last validation, "
                  "from its `train_log.jsonl`. The vocabularies differ between rows (joint, union, per-language), "
                  "so losses compare within a row's own data only."),
        Table(["Model", "data", "updates", "dev loss", "Adam kernel"], rows),
    ]


def transfer_section(cfg: DemoConfig, pair: str, lang: str, transfer: TransferResults) -> list:
    tasks = [t for t in cfg.transfer.tasks if any(t in row for row in transfer.test.values())]
    if not tasks:
        return []
    settings = [s for s in ROW_NAMES if s in transfer.test] + sorted(s for s in transfer.test if s not in ROW_NAMES)
    header = ["Model"]
    for task in tasks:
        header += [f"{task} {lang}", f"{task} Δ", f"{task} en dev"]
    header += [f"paper XNLI {lang}", "paper XNLI Δ", f"paper NER {lang}", f"paper LAS {lang}"]
    rows = []
    for setting in settings:
        name = ROW_NAMES.get(setting, setting)
        row = [name]
        for task in tasks:
            mine, base = transfer.test[setting].get(task), transfer.test.get("default", {}).get(task)
            delta = mine - base if mine is not None and base is not None else None
            row += [_fmt(mine), _fmt(delta, signed=True), _fmt(transfer.dev[setting].get(task))]
        paper = TABLE1.get(name)
        row += ([_fmt(paper["XNLI"][lang]), _fmt(paper["XNLI"]["Δ"], signed=True), _fmt(paper["NER"][lang]),
                 _fmt(paper["Parsing"][lang])] if paper else ["", "", "", ""])
        rows.append(row)
    majority = [MAJORITY] + [c for t in tasks for c in (_fmt(transfer.majority.get(t)), "", "")] + ["", "", "", ""]
    rows.append(majority)
    table_md = cfg.out / pair / "transfer" / "table1.md"
    blocks = [
        Heading(3, "Zero-shot transfer (Table 1 analogue)"),
        Paragraph(
            f"Fine-tuned on English, tested on {lang} (accuracy, %; Δ: difference from Default). The stand-in tasks "
            f"use real labels: the genre of a Bible book for a verse (`bible_genre`) and the LibreOffice module of a "
            f"help paragraph (`libreoffice_module`); test texts are held out of pretraining. Each score averages the "
            f"two grid points best on English dev (the paper's protocol). Test sets: "
            + ", ".join(f"{t} {transfer.test_size.get(t, 0)} examples" for t in tasks)
            + f". The paper's columns are its Table 1 for {lang} (XNLI, NER, parsing on real benchmarks; "
            f"XNLI Δ is its 3-language average). Also in `{_relative(table_md, cfg.out).as_posix()}`."
        ),
        Table(header, rows),
    ]
    figure = transfer_figure(cfg, pair, lang, tasks, settings, transfer)
    if figure is not None:
        blocks.append(Figure(_relative(figure, cfg.out), f"Zero-shot transfer en→{lang}: accuracy per setting, "
                                                          "dashed: majority class"))
    return blocks


def transfer_figure(cfg, pair, lang, tasks, settings, transfer: TransferResults) -> Optional[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = cfg.out / pair / "transfer" / f"transfer_{lang}.png"
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        names = [s for s in settings if task in transfer.test[s]]
        ax.bar(range(len(names)), [transfer.test[s][task] for s in names], color=[f"C{i}" for i in range(len(names))])
        if task in transfer.majority:
            ax.axhline(transfer.majority[task], color="black", linestyle="--", label=MAJORITY)
            ax.legend(fontsize="small")
        ax.set_xticks(range(len(names)), [ROW_NAMES.get(s, s) for s in names], rotation=35, ha="right")
        ax.set_ylabel(f"{lang} test accuracy (%)")
        ax.set_title(task)
        ax.grid(axis="y", alpha=0.3)
    files.write_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return path


def _best(rows: Sequence[dict], key: str) -> Optional[dict]:
    scored = [r for r in rows if _number(r.get(key)) is not None]
    return max(scored, key=lambda r: float(r[key])) if scored else None


def analysis_section(cfg: DemoConfig, pair: str, lang: str) -> list:
    root = cfg.out / pair / "analysis"
    if not (root / "summary.json").exists():
        return []
    blocks = [Heading(3, "Alignment and similarity (Section 5)")]
    figures = json.loads((root / "summary.json").read_text(encoding="utf-8"))

    def figs(analysis):
        return [Figure(_relative(Path(p), cfg.out), Path(p).stem.replace("_", " "))
                for p in figures.get(analysis, []) if p.endswith(".png")]

    if (root / "bli" / "bli.csv").exists():
        rows = []
        for r in read_csv(root / "bli" / "bli.csv"):
            rows.append([r["comparison"], r["space"], r["layer"] and f"L{r['layer']}", r["test_words"],
                         _fmt(100 * float(r["aligned_csls_p@1"])), _fmt(100 * float(r["unaligned_csls_p@1"]))])
        blocks += [Paragraph(f"**Word translation** en→{lang} (P@1 %, CSLS) on a held-out dictionary, after an "
                             "orthogonal map learned on a seed dictionary (aligned) and without one (unaligned); "
                             "input embeddings use single-subword words only."),
                   Table(["comparison", "space", "layer", "test words", "aligned P@1", "unaligned P@1"], rows),
                   *figs("bli")]
    if (root / "retrieval" / "retrieval.csv").exists():
        rows = [[r["comparison"], f"L{r['layer']}", _fmt(100 * float(r["aligned_nn_to_en_p@1"])),
                 _fmt(100 * float(r["unaligned_nn_to_en_p@1"]))] for r in read_csv(root / "retrieval" / "retrieval.csv")]
        blocks += [Paragraph(f"**Sentence retrieval** {lang}→en (P@1 %, mean-pooled layers, held-out Bible verses), "
                             "with a map learned on separate parallel verses and without."),
                   Table(["comparison", "layer", "with map", "no map"], rows), *figs("retrieval")]
    if (root / "cka" / "cka_layers.csv").exists():
        table: Dict[str, Dict[str, str]] = {}
        layers: List[str] = []
        for r in read_csv(root / "cka" / "cka_layers.csv"):
            table.setdefault(f"{r['pair']} {r['comparison']}", {})[r["layer"]] = _fmt(float(r["cka"]), 2)
            layers += [r["layer"]] if r["layer"] not in layers else []
        blocks += [Paragraph("**Linear CKA** between English and the other side's sentence representations, "
                             "same layer (L0: embeddings). en2 is English′, a second English translation of the verses."),
                   Table(["comparison", *layers], [[name, *(row.get(l, "") for l in layers)] for name, row in table.items()]),
                   *figs("cka")]
    if (root / "word_maps" / "word_maps.csv").exists():
        rows = [[r["comparison"], f"L{r['layer']}", r["pairs"], _fmt(100 * float(r["aligned_p@1"])),
                 _fmt(100 * float(r["unaligned_p@1"]))] for r in read_csv(root / "word_maps" / "word_maps.csv")]
        blocks += [Paragraph(f"**Contextual word maps** (eflomal-aligned word pairs of parallel verses): P@1 % of "
                             f"finding a {lang} word's English partner among the held-out linked words, per layer."),
                   Table(["comparison", "layer", "test pairs", "with map", "no map"], rows), *figs("word_maps")]
    return blocks


def reading(cfg: DemoConfig, pair: str, lang: str, transfer: TransferResults) -> List[str]:
    """The paper's claims, each checked against this run's numbers."""
    items = []
    test = transfer.test

    def noise(task, *scores):
        n = transfer.test_size.get(task, 0)
        return math.sqrt(sum(standard_error(s, n) ** 2 for s in scores))

    def compare(claim, a, b, task, expected_sign):
        if a not in test or b not in test or task not in test[a] or task not in test[b]:
            return
        x, y = test[a][task], test[b][task]
        items.append(f"{claim} ({task}, {lang}): {ROW_NAMES.get(a, a)} {x:.1f} vs {ROW_NAMES.get(b, b)} {y:.1f} → "
                     f"**{verdict(x - y, noise(task, x, y), expected_sign)}**")

    for task in cfg.transfer.tasks:
        if "default" in test and task in test["default"] and task in transfer.majority:
            x, m = test["default"][task], transfer.majority[task]
            items.append(f"Default transfers zero-shot above the majority class ({task}, {lang}): {x:.1f} vs {m:.1f} → "
                         f"**{verdict(x - m, noise(task, x), 1)}**")
        compare("Sharing fewer layers hurts transfer (paper: Sep Emb + L1-3 below Sep Emb)", "sep_emb", "sep_emb_l1_3", task, 1)
        compare("Language-specific lower layers hurt (paper: Sep L1-3 below Default)", "default", "sep_l1_3", task, 1)
        compare("Separate embeddings hurt (paper: Sep Emb below Default)", "default", "sep_emb", task, 1)
        compare("Anchors help (paper: No anchors 1.1 XNLI points below Default)", "default", "no_anchors", task, 1)
        compare("A domain mismatch lowers transfer (paper: Wiki-CC 1.4 XNLI points below Default)", "default", "wiki_cc", task, 1)

    def map_gain(table, keep, metric, count, claim):
        """Claim: the map lifts ``metric`` (aligned_ vs unaligned_) at the table's best layer."""
        if not table.exists():
            return
        best = _best([r for r in read_csv(table) if keep(r)], f"aligned_{metric}")
        if best is not None:
            a, u, n = 100 * float(best[f"aligned_{metric}"]), 100 * float(best[f"unaligned_{metric}"]), int(best[count])
            items.append(claim.format(layer=best["layer"], a=a, u=u, n=n)
                         + f" → **{verdict(a - u, math.hypot(standard_error(a, n), standard_error(u, n)), 1)}**")

    root = cfg.out / pair / "analysis"
    map_gain(root / "bli" / "bli.csv", lambda r: r["comparison"] == "monolingual" and r["space"] == "contextual",
             "csls_p@1", "test_words",
             "Independently trained monolingual models align by an orthogonal map (word translation, best layer "
             "L{layer}): P@1 {a:.1f} aligned vs {u:.1f} unaligned on {n} words")
    map_gain(root / "retrieval" / "retrieval.csv", lambda r: r["comparison"] == "monolingual",
             "nn_to_en_p@1", "test_sentences",
             "Sentences of monolingual models align too (retrieval, best layer L{layer}): P@1 {a:.1f} with "
             "a map vs {u:.1f} without, {n} verses")
    if (root / "cka" / "cka_layers.csv").exists():
        average = {r["comparison"]: float(r["cka"]) for r in read_csv(root / "cka" / "cka_layers.csv")
                   if r["pair"] == lang and r["layer"] == "average"}
        if {"bilingual", "monolingual", "random"} <= set(average):
            b, m, r = average["bilingual"], average["monolingual"], average["random"]
            holds = b >= m > r
            items.append(f"CKA: bilingual ≥ monolingual > random (paper: bilingual only slightly above monolingual), "
                         f"layer average {b:.2f} / {m:.2f} / {r:.2f} → **{'supported' if holds else 'not supported'}** "
                         "(no error bar: one seed)")
    return items


CANNOT_SHOW = [
    "The paper's benchmarks (XNLI, WikiAnn NER, UD parsing) are not installable offline; the stand-in tasks "
    "have real labels but are easier and smaller, so absolute scores are not comparable with the paper's.",
    "Effect sizes at the paper's scale: the demo's models have 64 dimensions and see a few million subwords "
    "(the paper: 768 dimensions, about 3 days on 8 V100s), one seed each, so small differences are noise.",
    "Rows the default demo leaves out (Default anchors, Extra anchors, Sep L1-6, Sep Emb + L1-6) and language "
    "distance (run `make demo PAIRS=all`).",
]


def write_report(cfg: DemoConfig, timings: Dict[str, dict]) -> List[Path]:
    out = cfg.out
    pairs = [p for p in cfg.pairs if (out / p).exists()] or sorted(p.name for p in out.iterdir() if (p / "pretrain").exists())
    blocks: list = [
        Heading(1, "xling demo: emerging cross-lingual structure, in miniature"),
        Paragraph(f"Written {time.strftime('%Y-%m-%d %H:%M')} from the files under `{out}` (pairs: "
                  f"{', '.join(pairs)}; scale {cfg.scale:g}; {cfg.scaled_updates()} pretraining updates per model). "
                  "Every number comes from files this run wrote; the paper's numbers are its Table 1."),
    ]
    if timings:
        total = sum(t["seconds"] for t in timings.values())
        blocks += [Heading(2, "Run"),
                   Table(["stage", "wall time (min)"],
                         [[name, f"{t['seconds'] / 60:.1f}"] for name, t in timings.items()] + [["total", f"{total / 60:.1f}"]]),
                   Paragraph(f"On {os.cpu_count()} CPU cores, {cfg.workers} processes at a time, one core each.")]
    claims = []
    for pair in pairs:
        lang = cfg.langs(pair)[1]
        transfer = read_transfer(out / pair / "transfer", lang) if (out / pair / "transfer").exists() else TransferResults({}, {}, {}, {})
        blocks += [Heading(2, f"{pair}")]
        blocks += pretraining_section(cfg, pair)
        blocks += transfer_section(cfg, pair, lang, transfer)
        blocks += analysis_section(cfg, pair, lang)
        claims += reading(cfg, pair, lang, transfer)
    blocks += [
        Heading(2, "Reading: what this run supports"),
        Paragraph("Each claim of the paper, checked on this run's numbers: **supported** / **contradicted** when the "
                  "difference exceeds twice its standard error (binomial, from the test-set size), **cannot tell** "
                  "otherwise."),
        Bullets(claims or ["No results yet: run the demo's stages first."]),
        Heading(2, "What this run cannot show"),
        Bullets(CANNOT_SHOW),
    ]
    md, page = out / REPORT_MD, out / REPORT_HTML
    files.write_text(md, to_markdown(blocks))
    files.write_text(page, to_html(blocks, "xling demo report"))
    return [md, page]
