"""The demo's report: ``OUT/report.md`` and ``OUT/report.html`` (the same content; figures
are PNG files next to the results they plot, linked by relative paths), and
``OUT/claims.json``.

Every number is read from files the run wrote (pretraining logs, transfer summaries and
tables, analysis tables; ``fairseq_ext.demo.results``); the paper's come from
``fairseq_ext.demo.paper``. The reading at the end is ``fairseq_ext.demo.claims``: each
claim decided against its control, the same records as ``claims.json``."""

import html
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from xling import files
from fairseq_ext.analysis import bli, retrieval, word_alignment
from fairseq_ext.demo.claims import (
    BLI_METHODS,
    MARGIN_SE,
    RETRIEVAL_METHODS,
    RULE,
    Claim,
    pair_claims,
    table_method,
    transfer_id,
    write_claims,
)
from fairseq_ext.demo.config import DemoConfig
from fairseq_ext.demo.paper import TABLE1
from fairseq_ext.demo.results import AnalysisResults, TransferResults, ordered_settings, read_analysis, read_transfer
from fairseq_ext.transfer.table import MAJORITY, ROW_NAMES
from slurm.runs import TRAIN_LOG, read_run

REPORT_MD, REPORT_HTML, CLAIMS = "report.md", "report.html", "claims.json"


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


# what each stand-in task predicts, for the transfer paragraph (only the tasks that ran)
TASK_TEXT = {
    "bible_genre": "the genre of a Bible book for a verse",
    "libreoffice_module": "the LibreOffice module of a help paragraph",
}


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


# ------------------------------------------------------------------ numbers


def _fmt(value: Optional[float], digits: int = 1, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


# ------------------------------------------------------------------ report sections


def _relative(path: Path, out: Path) -> Path:
    return Path(os.path.relpath(path, out))


def pretraining_section(cfg: DemoConfig, pair: str) -> list:
    root = cfg.out / pair / "pretrain"
    rows = []
    found = {p.name: p for p in root.iterdir() if p.is_dir()} if root.exists() else {}
    for name in ordered_settings(found):
        summary = read_run(found[name])
        if summary is None:
            continue
        data = Path(summary.run.data).name if summary.run else ""
        rows.append([ROW_NAMES.get(name, name), data, str(summary.updates),
                     ", ".join(f"{lang} {value:.2f}" for lang, value in summary.valid_losses.items()),
                     str(summary.start.get("precision", "")), str(summary.start.get("adam", ""))])
    if not rows:
        return []
    return [
        Heading(3, "Pretraining"),
        Paragraph("Masked-LM loss on held-out text (bits per masked subword) of each model's last validation, "
                  f"from its `{TRAIN_LOG}`. The vocabularies differ between rows (joint, union, per-language), "
                  "so losses compare within a row's own data only."),
        Table(["Model", "data", "updates", "dev loss", "precision", "Adam kernel"], rows),
    ]


def transfer_section(cfg: DemoConfig, pair: str, lang: str, transfer: TransferResults, claims: Dict[str, Claim]) -> list:
    tasks = [t for t in cfg.transfer.tasks if t in transfer.tasks()]
    if not tasks:
        return []
    settings = ordered_settings(transfer.test)
    header = ["Model"]
    for task in tasks:
        header += [f"{task} {lang}", f"{task} Δ", f"{task} en dev", f"{task} ratio"]
    header += [f"paper XNLI {lang}", "paper XNLI Δ", f"paper NER {lang}", f"paper LAS {lang}"]
    rows = []
    for setting in settings:
        name = ROW_NAMES.get(setting, setting)
        row = [name]
        for task in tasks:
            mine, base = transfer.test[setting].get(task), transfer.test.get("default", {}).get(task)
            delta = mine - base if mine is not None and base is not None else None
            claim = claims.get(transfer_id(lang, task, setting))
            row += [_fmt(mine), _fmt(delta, signed=True), _fmt(transfer.dev[setting].get(task)),
                    _fmt(claim and claim.ratio, 2)]
        paper = TABLE1.get(name)
        row += ([_fmt(paper["XNLI"][lang]), _fmt(paper["XNLI"]["Δ"], signed=True), _fmt(paper["NER"][lang]),
                 _fmt(paper["Parsing"][lang])] if paper else ["", "", "", ""])
        rows.append(row)
    majority = [MAJORITY] + [c for t in tasks for c in (_fmt(transfer.majority.get(t)), "",
                                                           _fmt(transfer.dev_majority.get(t)), "")] + ["", "", "", ""]
    rows.append(majority)
    table_md = cfg.out / pair / "transfer" / "table1.md"
    blocks = [
        Heading(3, "Zero-shot transfer (Table 1 analogue)"),
        Paragraph(
            f"Fine-tuned on English, tested on {lang} (accuracy, %; Δ: difference from Default; en dev: the same "
            f"model on the English dev set). The stand-in tasks use real labels: "
            + "; ".join(f"{TASK_TEXT.get(t, 'a classification task')} (`{t}`)" for t in tasks)
            + f"; test texts are held out of pretraining. Each score averages the "
            f"two grid points best on English dev (the paper's protocol). ratio: the transfer ratio "
            f"({lang} − majority) / (en dev − its majority), the share of the model's English gain over the majority "
            f"class that reaches {lang} (empty unless English is above its majority class by {MARGIN_SE:g} standard "
            f"errors over its dev set; a description with no error bar of its own). Test sets: "
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


def _side_by_side(rows: Sequence[Dict[str, str]], key: Callable[[dict], Tuple[str, ...]], key_header: List[str],
                  cells: Sequence[Tuple[str, Callable[[dict], str]]]) -> Table:
    """One line per ``key`` (e.g. a layer), each comparison's ``cells`` beside the others'
    (the random encoder's next to the models')."""
    comparisons = list(dict.fromkeys(r["comparison"] for r in rows))
    lines: Dict[Tuple[str, ...], Dict[str, dict]] = {}
    for row in rows:
        lines.setdefault(key(row), {})[row["comparison"]] = row
    header = key_header + [f"{c} {name}" for c in comparisons for name, _ in cells]
    body = [[*k, *(cell(by[c]) if c in by else "" for c in comparisons for _, cell in cells)] for k, by in lines.items()]
    return Table(header, body)


def _percent(column: str) -> Callable[[dict], str]:
    return lambda row: _fmt(100 * float(row[column]))


def analysis_section(cfg: DemoConfig, lang: str, analysis: AnalysisResults) -> list:
    if not analysis.figures:
        return []
    blocks = [Heading(3, "Alignment and similarity (Section 5)"),
              Paragraph("Each table puts the random encoder (an untrained encoder of the same architecture on the "
                        f"{lang} side, under the same map) beside the trained models: it is the control of the "
                        "alignment claims below.")]

    def figs(name):
        return [Figure(_relative(Path(p), cfg.out), Path(p).stem.replace("_", " "))
                for p in analysis.figures.get(name, []) if p.endswith(".png")]

    def layer(row):
        return (row["layer"] and f"L{row['layer']}",)

    if analysis.bli:
        method = table_method(analysis.bli, bli.column, BLI_METHODS)
        table = _side_by_side(analysis.bli, lambda r: (r["space"], *layer(r)), ["space", "layer"],
                              [("aligned", _percent(bli.column(True, method))),
                               ("unaligned", _percent(bli.column(False, method))),
                               ("words", lambda r: r[bli.TEST_SIZE])])
        blocks += [Paragraph(f"**Word translation** en→{lang} (P@1 %, {method.upper()}) on a held-out dictionary, after "
                             "an orthogonal map learned on a seed dictionary (aligned) and without one (unaligned); "
                             "input embeddings use single-subword words only; words: test words found in both spaces."),
                   table, *figs("bli")]
    if analysis.retrieval:
        method = table_method(analysis.retrieval, retrieval.column, RETRIEVAL_METHODS)
        table = _side_by_side(analysis.retrieval, layer, ["layer"], [("map", _percent(retrieval.column(True, method))),
                                                                      ("no map", _percent(retrieval.column(False, method)))])
        sizes = sorted({r[retrieval.TEST_SIZE] for r in analysis.retrieval})
        blocks += [Paragraph(f"**Sentence retrieval** {lang}→en (P@1 %, mean-pooled layers, {', '.join(sizes)} held-out "
                             "Bible verses), with a map learned on separate parallel verses and without."),
                   table, *figs("retrieval")]
    if analysis.cka:
        table: Dict[str, Dict[str, str]] = {}
        layers: List[str] = []
        for r in analysis.cka:
            se = f" ± {float(r['cka_se']):.3f}" if r.get("cka_se", "") != "" else ""
            table.setdefault(f"{r['pair']} {r['comparison']}", {})[r["layer"]] = f"{float(r['cka']):.3f}{se}"
            layers += [r["layer"]] if r["layer"] not in layers else []
        resamples = sorted({r["resamples"] for r in analysis.cka if r.get("resamples")})
        error = (f" ± one bootstrap standard error ({', '.join(resamples)} resamples of the sentences)"
                 if resamples else "")
        blocks += [Paragraph("**Linear CKA** between English and the other side's sentence representations, "
                             f"same layer (L0: embeddings){error}. en2 is English′, a second English translation of "
                             "the verses."),
                   Table(["comparison", *layers], [[name, *(row.get(l, "") for l in layers)] for name, row in table.items()]),
                   *figs("cka")]
    if analysis.word_maps:
        table = _side_by_side(analysis.word_maps, layer, ["layer"],
                              [("map", _percent(word_alignment.column(True))),
                               ("no map", _percent(word_alignment.column(False))),
                               ("pairs", lambda r: r[word_alignment.TEST_SIZE])])
        blocks += [Paragraph(f"**Contextual word maps** (eflomal-aligned word pairs of parallel verses): P@1 % of "
                             f"finding a {lang} word's English partner among the held-out linked words, per layer "
                             "(pairs: test pairs). eflomal seeds itself from the system's randomness (it has no "
                             "seed option), so the pairs, and these figures, change a little from run to run."),
                   table, *figs("word_maps")]
    return blocks


# ------------------------------------------------------------------ the reading: claims in words


def _value(claim: Claim, value: Optional[float], signed: bool = False) -> str:
    return _fmt(value, 1 if claim.unit == "%" else 3, signed)


def _details(claim: Claim) -> List[str]:
    unit = " points" if claim.unit == "%" else ""
    details = [f"vs {claim.control}"]
    if claim.difference is not None:
        details.append(f"{_value(claim, claim.difference, True)}"
                       + (f" ± {_value(claim, claim.se)}" if claim.se is not None else "") + unit
                       + (f", margin {claim.margin_se:+.1f} SE" if claim.margin_se is not None else ""))
    if claim.value_layer:
        details.append(f"layers {claim.value_layer} / {claim.control_layer or '–'}")
    if claim.source_value is not None:
        details.append(f"English dev {_value(claim, claim.source_value)}, its majority class "
                       f"{_value(claim, claim.source_control_value)}, transfer ratio "
                       + (f"{claim.ratio:.2f}" if claim.ratio is not None
                          else f"– (English not above its majority by {MARGIN_SE:g} SE)"))
    return details


def bullet(claim: Claim) -> str:
    where = claim.where + (f"; paper: {claim.paper}" if claim.paper else "")
    if claim.control_value is None:
        return (f"{claim.text} ({where}): {_value(claim, claim.value)}, no {claim.control} row to compare "
                f"→ **{claim.verdict}**")
    return (f"{claim.text} ({where}): {_value(claim, claim.value)} vs {_value(claim, claim.control_value)} → "
            f"**{claim.verdict}** ({'; '.join(_details(claim))})")


def reading(claims: Sequence[Claim]) -> List[str]:
    """One bullet per claim; a CKA comparison's layers share the bullet of its layer average."""
    groups: Dict[str, List[Claim]] = {}
    for claim in claims:
        groups.setdefault(claim.group, []).append(claim)
    items = []
    for members in groups.values():
        head = next((c for c in members if c.id.endswith("/average")), members[0])
        layers = [c for c in members if c is not head]
        items.append(bullet(head) + ("; per layer: " + ", ".join(
            f"{c.id.rsplit('/', 1)[1]} {c.verdict}" + (f" ({c.margin_se:+.1f} SE)" if c.margin_se is not None else "")
            for c in layers) if layers else ""))
    return items


def cannot_show(settings_run: Sequence[str]) -> List[str]:
    missing = [name for setting, name in ROW_NAMES.items() if setting not in settings_run]
    return [
        "The paper's benchmarks (XNLI, WikiAnn NER, UD parsing) are not installable offline; the stand-in tasks "
        "have real labels but are easier and smaller, so absolute scores are not comparable with the paper's.",
        "Effect sizes at the paper's scale: the demo's models have 64 dimensions and see a few million subwords "
        "(the paper: 768 dimensions, about 3 days on 8 V100s), one seed each, so small differences are noise.",
        (f"Table 1's rows this run left out ({', '.join(missing)}; `make demo DEMO_PRESET=full` runs them) and "
         if missing else "") + "language distance (run `make demo PAIRS=all`).",
    ]


def _ran_with(timings: Dict[str, dict], key: str, default):
    """What the pretraining stages recorded (``cores``, ``processes``); ``default`` for older runs."""
    return next((t[key] for name, t in timings.items() if name.startswith("pretrain") and key in t), default)


def _updates_text(cfg: DemoConfig) -> str:
    shares = {name: cfg.scaled_updates(name) for name, spec in cfg.pretrain.settings.items() if spec.update_share != 1}
    return f"{cfg.scaled_updates()} pretraining updates per model" + "".join(
        f", {ROW_NAMES.get(name, name)} models {updates}" for name, updates in shares.items())


def write_report(cfg: DemoConfig, timings: Dict[str, dict]) -> List[Path]:
    out = cfg.out
    pairs = [p for p in cfg.pairs if (out / p).exists()] or sorted(p.name for p in out.iterdir() if (p / "pretrain").exists())
    blocks: list = [
        Heading(1, "xling demo: emerging cross-lingual structure, in miniature"),
        Paragraph(f"Written {time.strftime('%Y-%m-%d %H:%M')} from the files under `{out}` (pairs: "
                  f"{', '.join(pairs)}; scale {cfg.scale:g}; {_updates_text(cfg)}). "
                  "Every number comes from files this run wrote; the paper's numbers are its Table 1."),
    ]
    precision, why = cfg.precision()
    if timings:
        total = sum(t["seconds"] for t in timings.values())
        blocks += [Heading(2, "Run"),
                   Table(["stage", "wall time (min)"],
                         [[name, f"{t['seconds'] / 60:.1f}"] for name, t in timings.items()] + [["total", f"{total / 60:.1f}"]]),
                   Paragraph(f"On {_ran_with(timings, 'cores', os.cpu_count())} CPU cores, "
                             f"{_ran_with(timings, 'processes', cfg.workers)} process(es) at a time, one core each; "
                             f"pretraining in {precision} ({why}).")]
    claims: List[Claim] = []
    settings_run: List[str] = []
    for pair in pairs:
        lang = cfg.langs(pair)[1]
        transfer = read_transfer(out / pair / "transfer", lang)
        analysis = read_analysis(out / pair / "analysis")
        pair_list = pair_claims(pair, lang, transfer, analysis)  # the tables and the reading share them
        claims += pair_list
        settings_run += transfer.test
        blocks += [Heading(2, f"{pair}")]
        blocks += pretraining_section(cfg, pair)
        blocks += transfer_section(cfg, pair, lang, transfer, {c.id: c for c in pair_list})
        blocks += analysis_section(cfg, lang, analysis)
    blocks += [
        Heading(2, "Reading: what this run supports"),
        Paragraph("Each claim of the paper, decided on this run's numbers against its control. " + RULE
                  + f" The same records, with every number, are in `{CLAIMS}`."),
        Bullets(reading(claims) or ["No results yet: run the demo's stages first."]),
        Heading(2, "What this run cannot show"),
        Bullets(cannot_show(settings_run)),
    ]
    md, page, claims_path = out / REPORT_MD, out / REPORT_HTML, out / CLAIMS
    files.write_text(md, to_markdown(blocks))
    files.write_text(page, to_html(blocks, "xling demo report"))
    write_claims(claims_path, claims)
    return [md, page, claims_path]
