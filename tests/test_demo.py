"""``make demo`` end to end at a reduced scale: the registry slice of the pipeline tests,
the demo config's models (four by default) of a few dozen updates, one fine-tuning point
per model and task, the analysis on small samples, and the report, which must hold this
run's numbers. Then the HTML report rendered by headless Chromium."""

import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from fairseq_ext.demo.config import load_config as load_demo_config
from xling.settings import comparisons, get as get_setting
from fairseq_ext.transfer.table import ROW_NAMES
from helpers import REPO
from registry_slice import DEMO_TASKS as TASKS, small_demo_config

pytestmark = pytest.mark.slow  # a reduced demo end to end: make test runs it, make test-fast does not

CHROMIUM = "chromium"
DEFAULTS = load_demo_config(REPO / "configs/demo/default.yaml")
SETTINGS = tuple(name for name, spec in DEFAULTS.pretrain.settings.items() if not spec.monolingual)
def run_demo(config: Path, *args):
    return subprocess.run(
        [sys.executable, "-m", "fairseq_ext.demo", "--config", str(config), *args],
        cwd=REPO, capture_output=True, text=True, timeout=1200,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory, pipeline, registry_cache):
    cfg, _ = pipeline
    root = tmp_path_factory.mktemp("demo")
    config = small_demo_config(root / "demo.yaml", root / "out", cfg.work, registry_cache)
    first = run_demo(config)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    return config, root / "out", first


def read_summary(out: Path, task: str, setting: str) -> dict:
    return json.loads((out / "en-fr" / "transfer" / task / setting / "summary.json").read_text(encoding="utf-8"))


def test_every_stage_reports_its_status_and_the_report_is_written(demo):
    config, out, first = demo
    for stage in ("data en-fr", "pretrain en-fr", "transfer en-fr", "analysis en-fr", "report"):
        assert f"[demo] {stage}: started" in first.stdout
        assert re.search(rf"\[demo\] {stage}: (done|reused finished outputs) in \d+m\d\ds", first.stdout)
        assert (out / "logs" / f"{stage.replace(' ', '_')}.log").exists()
    # the pipeline fixture made the data already: the demo reuses it
    assert "[demo] data en-fr: reused finished outputs" in first.stdout
    assert (out / "report.md").exists() and (out / "report.html").exists()
    timings = json.loads((out / "timings.json").read_text())
    assert {"pretrain en-fr", "transfer en-fr", "analysis en-fr", "report"} <= set(timings)
    # the report says what the run ran with (jobs=2), not what a later --report-only has
    assert timings["pretrain en-fr"]["processes"] == 2 and timings["pretrain en-fr"]["cores"] == os.cpu_count()
    assert f"On {os.cpu_count()} CPU cores, 2 process(es) at a time" in (out / "report.md").read_text(encoding="utf-8")
    rewritten = run_demo(config, "--report-only", "jobs=1")
    assert rewritten.returncode == 0, rewritten.stdout[-3000:] + rewritten.stderr[-3000:]
    assert f"On {os.cpu_count()} CPU cores, 2 process(es) at a time" in (out / "report.md").read_text(encoding="utf-8")


def test_every_model_of_the_demo_config_is_pretrained_with_its_setting(demo):
    _, out, _ = demo
    runs = {p.name for p in (out / "en-fr" / "pretrain").iterdir()}
    assert runs == {*SETTINGS, "mono_en", "mono_fr"}
    assert {"default", "sep_emb_l1_6"} <= set(SETTINGS), "Default and the paper's largest effect"
    for name in runs:
        done = json.loads((out / "en-fr" / "pretrain" / name / "done.json").read_text())
        setting = DEFAULTS.pretrain.settings["mono" if name.startswith("mono_") else name]
        assert done["num_updates"] == round(24 * setting.update_share)
        submission = json.loads((out / "en-fr" / "pretrain" / name / "submission.json").read_text())
        data = Path(submission["run"]["data"]).name
        expected = name if name.startswith("mono_") else get_setting(name).data
        assert data == expected
        assert submission["run"]["langs"] == ({"mono_en": ["en"], "mono_fr": ["fr"]}.get(name) or ["en", "fr"])


def test_report_table_holds_this_runs_transfer_scores(demo):
    _, out, _ = demo
    report = (out / "report.md").read_text(encoding="utf-8")
    table = [line for line in report.splitlines() if line.startswith("| ")]
    header = next(line for line in table if line.startswith("| Model | bible_genre fr"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    rows = {c.split("|")[1].strip(): [x.strip() for x in c.strip("|").split("|")] for c in table}
    names = {setting: ROW_NAMES[setting] for setting in SETTINGS}
    for task in TASKS:
        default = 100 * read_summary(out, task, "default")["test"]["fr"]
        for setting, name in names.items():
            summary = read_summary(out, task, setting)
            row = rows[name]
            score = 100 * summary["test"]["fr"]
            assert row[columns.index(f"{task} fr")] == f"{score:.1f}"
            assert row[columns.index(f"{task} Δ")] == f"{score - default:+.1f}"
            assert row[columns.index(f"{task} en dev")] == f"{100 * summary['dev']:.1f}"
        majority = 100 * read_summary(out, task, "default")["majority_baseline"]["fr"]
        assert rows["majority class"][columns.index(f"{task} fr")] == f"{majority:.1f}"
    # the paper's numbers beside ours (Table 1, fr)
    assert rows["Sep Emb + L1-6"][columns.index("paper XNLI fr")] == "51.6"
    assert rows["Default"][columns.index("paper NER fr")] == "79.8"
    # the transfer stage's own Table 1 file has the same scores
    with open(out / "en-fr" / "transfer" / "table1.csv", encoding="utf-8") as handle:
        table1 = {row["Model"]: row for row in csv.DictReader(handle)}
    assert table1["Sep Emb + L1-6"]["bible_genre fr"] == rows["Sep Emb + L1-6"][columns.index("bible_genre fr")]


def test_report_figures_exist_and_come_from_this_run(demo):
    _, out, _ = demo
    report = (out / "report.md").read_text(encoding="utf-8")
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", report)
    kinds = {Path(f).stem.split("_")[0] for f in figures}
    assert {"transfer", "bli", "retrieval", "cka", "word"} <= kinds
    for figure in figures:
        path = out / figure
        assert path.exists(), figure
        with Image.open(path) as image:
            assert image.width > 200 and image.height > 150
    # the CKA numbers in the report are the analysis table's
    with open(out / "en-fr" / "analysis" / "cka" / "cka_layers.csv", encoding="utf-8") as handle:
        cka = [row for row in csv.DictReader(handle) if row["layer"] == "average"]
    line = next(l for l in report.splitlines() if l.startswith("| fr monolingual |"))
    average = next(r for r in cka if r['comparison'] == 'monolingual' and r['pair'] == 'fr')
    assert line.rstrip(" |").endswith(f"{float(average['cka']):.3f} ± {float(average['cka_se']):.3f}")
    assert "## Reading: what this run supports" in report
    assert re.search(r"Default transfers zero-shot above the majority class \(bible_genre, fr; paper: XNLI fr 73\.6\): "
                     r"[\d.]+ vs [\d.]+ → \*\*(supported|contradicted|cannot tell)\*\*", report)


# ---------------------------------------------------------------- claims.json, recomputed from the run's files

THRESHOLD = 3.0  # standard errors
CKA_CLAIMS = [("bilingual", "fr", "monolingual", "fr", +1), ("monolingual", "fr", "random", "fr", +1),
              ("bilingual", "fr", "random", "fr", +1), ("monolingual", "fr", "same_model", "en2", -1),
              ("bilingual", "fr", "same_model", "en2", -1)]
HURTS = comparisons()  # the paper's (worse, reference) pairs of Table 1 (tests/test_settings.py pins them)


def binomial(percent, n):
    half = 0.5 / n
    p = min(max(percent / 100, half), 1 - half)
    return 100 * (p * (1 - p) / n) ** 0.5


def rule(margin):
    return "supported" if margin >= THRESHOLD else "contradicted" if margin <= -THRESHOLD else "cannot tell"


def csv_rows(path):
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def expected_claims(out: Path) -> dict:
    """id -> (value, control value, SE of the difference, direction, the claim it needs
    supported first), read from the run's files and the stated rule alone."""
    expected = {}
    transfer = out / "en-fr" / "transfer"
    summaries = [json.loads(p.read_text()) for p in transfer.rglob("summary.json")]
    settings = {s["setting"] for s in summaries}
    for summary in summaries:
        task, setting = summary["column"], summary["setting"]
        point = json.loads((transfer / task / setting / summary["best_points"][0] / "result.json").read_text())
        n = sum(1 for line in open(point["config"]["data"]["test"]["fr"], encoding="utf-8") if line.strip())
        value, majority = 100 * summary["test"]["fr"], 100 * summary["majority_baseline"]["fr"]
        expected[f"transfer/fr/{task}/{setting}"] = (value, majority, binomial(value, n), +1, None)
        for worse, reference in HURTS:
            if worse == setting and reference in settings:
                base = 100 * read_summary(out, task, reference)["test"]["fr"]
                expected[f"hurts/fr/{task}/{worse}-vs-{reference}"] = (
                    value, base, (binomial(value, n) ** 2 + binomial(base, n) ** 2) ** 0.5, -1,
                    f"transfer/fr/{task}/{reference}")
    analysis = out / "en-fr" / "analysis"

    def best(rows, comparison, score, n_column, *se_columns):
        """(best score in %, its SE): the comparison's best layer, SEs of the columns summed."""
        row = max((r for r in rows if r["comparison"] == comparison), key=score)
        n = int(row[n_column])
        return 100 * score(row), sum(binomial(100 * float(row[c]), n) ** 2 for c in se_columns) ** 0.5

    def against_random(key, rows, comparison, score, n_column, *se_columns):
        (value, se), (control, control_se) = (best(rows, c, score, n_column, *se_columns) for c in (comparison, "random"))
        expected[key] = (value, control, (se ** 2 + control_se ** 2) ** 0.5, +1, None)

    retrieval = csv_rows(analysis / "retrieval" / "retrieval.csv")
    hits = {(r["pair"], r["comparison"], r["layer"], r["column"]): np.array([c == "1" for c in r["hits"]], float)
            for r in csv_rows(analysis / "retrieval" / "retrieval_hits.csv")}
    aligned, unaligned = "aligned_nn_to_en_p@1", "unaligned_nn_to_en_p@1"

    def paired(key, comparison, columns):
        """The model and the random encoder on the same queries: each at its best layer of the
        summed columns (sign, column), the SE of the per-query differences."""
        per_query = {}
        for side in (comparison, "random"):
            row = max((r for r in retrieval if r["comparison"] == side),
                      key=lambda r: sum(sign * float(r[c]) for sign, c in columns))
            per_query[side] = sum(sign * hits["fr", side, row["layer"], c] for sign, c in columns)
            assert 100 * per_query[side].mean() == pytest.approx(100 * sum(sign * float(row[c]) for sign, c in columns))
        difference = per_query[comparison] - per_query["random"]
        n = len(difference)
        variance = max(np.var(difference, ddof=1), 0.5 / n * (1 - 0.5 / n))  # at least half a query, as binomial
        expected[key] = (100 * per_query[comparison].mean(), 100 * per_query["random"].mean(),
                         100 * (variance / n) ** 0.5, +1, None)

    paired("retrieval/fr/bilingual-no-map", "bilingual", [(1, unaligned)])
    paired("retrieval/fr/monolingual-map", "monolingual", [(1, aligned)])
    paired("retrieval/fr/monolingual-map-gain", "monolingual", [(1, aligned), (-1, unaligned)])
    bli = csv_rows(analysis / "bli" / "bli.csv")
    for comparison in ("monolingual", "bilingual"):
        for space in ("contextual", "input embeddings"):
            against_random(f"bli/fr/{comparison}/{space.replace(' ', '-')}", [r for r in bli if r["space"] == space],
                           comparison, lambda r: float(r["aligned_csls_p@1"]), "test_words", "aligned_csls_p@1")
        against_random(f"word_maps/fr/{comparison}", csv_rows(analysis / "word_maps" / "word_maps.csv"), comparison,
                       lambda r: float(r["aligned_p@1"]), "pairs", "aligned_p@1")
    cka = {(r["pair"], r["comparison"], r["layer"]): r for r in csv_rows(analysis / "cka" / "cka_layers.csv")}
    replicates = {(r["pair"], r["comparison"], r["layer"]): np.array([float(r[f"r{i}"]) for i in range(len(r) - 3)])
                  for r in csv_rows(analysis / "cka" / "cka_bootstrap.csv")}
    layers = [f"L{i}" for i in range(9)] + ["average"]
    for comparison, lang, control, control_lang, direction in CKA_CLAIMS:
        for layer in layers:
            a, b = (lang, comparison, layer), (control_lang, control, layer)
            if lang == control_lang:  # the same sentences, the same resamples: the paired bootstrap
                se = float(np.std(replicates[a] - replicates[b], ddof=1))
            else:
                se = (float(cka[a]["cka_se"]) ** 2 + float(cka[b]["cka_se"]) ** 2) ** 0.5
            expected[f"cka/fr/{comparison}-vs-{control}/{layer}"] = (
                float(cka[a]["cka"]), float(cka[b]["cka"]), se, direction, None)
    return expected


def test_every_verdict_of_claims_json_follows_from_the_runs_files(demo):
    _, out, _ = demo
    saved = json.loads((out / "claims.json").read_text(encoding="utf-8"))
    assert saved["margin_se"] == THRESHOLD
    records = {r["id"]: r for r in saved["claims"]}
    assert len(records) == len(saved["claims"])
    expected = expected_claims(out)
    assert set(records) == set(expected)  # every claim whose inputs the run has, and no other
    verdicts = {}
    for key in sorted(expected, key=lambda k: expected[k][4] is not None):  # prerequisites first
        value, control, se, direction, requires = expected[key]
        record = records[key]
        assert record["value"] == pytest.approx(value) and record["control_value"] == pytest.approx(control), key
        assert record["se"] == pytest.approx(se, rel=1e-6) and record["direction"] == direction, key
        margin = direction * (value - control) / se
        assert record["margin_se"] == pytest.approx(margin, rel=1e-6, abs=1e-9) and record["threshold"] == THRESHOLD
        verdicts[key] = "no transfer to compare" if requires and verdicts[requires] != "supported" else rule(margin)
        assert record["verdict"] == verdicts[key], key
    # the report says the same: every verdict with its two numbers, and the transfer ratio in its table
    report = (out / "report.md").read_text(encoding="utf-8")
    for record in records.values():
        if not record["id"].startswith("cka/") or record["id"].endswith("/average"):
            digits = 1 if record["unit"] == "%" else 3
            assert (f"{record['value']:.{digits}f} vs {record['control_value']:.{digits}f} → "
                    f"**{record['verdict']}**") in report, record["id"]
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Model | bible_genre fr"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    table = {row[0]: dict(zip(header, row)) for row in
             ([c.strip() for c in line.strip("|").split("|")] for line in lines[start + 2:] if line.startswith("| "))}
    for task in TASKS:
        for setting in (p.name for p in (out / "en-fr" / "transfer" / task).iterdir() if (p / "summary.json").exists()):
            summary = read_summary(out, task, setting)
            record = records[f"transfer/fr/{task}/{setting}"]
            assert record["source_value"] == pytest.approx(100 * summary["dev"])
            assert record["source_control_value"] == pytest.approx(100 * summary["majority_baseline"]["dev"])
            # a ratio only where English is above its majority class by the margin (binomial SE over its dev set)
            point = json.loads((out / "en-fr" / "transfer" / task / setting / summary["best_points"][0] / "result.json")
                               .read_text(encoding="utf-8"))
            dev_n = sum(1 for line in Path(point["config"]["data"]["dev"]).read_text(encoding="utf-8").splitlines() if line.strip())
            gain = summary["dev"] - summary["majority_baseline"]["dev"]
            noise = THRESHOLD * math.sqrt(summary["dev"] * (1 - summary["dev"]) / dev_n)
            ratio = (summary["test"]["fr"] - summary["majority_baseline"]["fr"]) / gain if gain >= noise else None
            assert record["ratio"] == (pytest.approx(ratio) if ratio is not None else None)
            cell = table[ROW_NAMES[setting]][f"{task} ratio"]
            assert cell == (f"{ratio:.2f}" if ratio is not None else "–")
        assert table["majority class"][f"{task} en dev"] == f"{100 * summary['majority_baseline']['dev']:.1f}"


def test_a_rerun_reuses_everything_and_a_lost_result_is_redone(demo):
    config, out, _ = demo
    again = run_demo(config)
    assert again.returncode == 0, again.stderr[-3000:]
    for stage in ("data en-fr", "pretrain en-fr", "transfer en-fr", "analysis en-fr"):
        assert f"[demo] {stage}: reused finished outputs" in again.stdout
    lost = out / "en-fr" / "transfer" / "bible_genre" / "sep_emb_l1_6"
    before = json.loads((lost / "summary.json").read_text())
    shutil.rmtree(lost)
    redo = run_demo(config)
    assert redo.returncode == 0, redo.stderr[-3000:]
    assert "[demo] transfer en-fr: done" in redo.stdout
    assert "[demo] pretrain en-fr: reused finished outputs" in redo.stdout
    assert json.loads((lost / "summary.json").read_text())["test"] == before["test"]  # seeded: the same scores


def test_a_failing_stage_is_named_with_its_log(demo, tmp_path):
    config, _, _ = demo
    cfg = yaml.safe_load(config.read_text())
    cfg.update(out_dir=str(tmp_path / "out"), data_config=str(tmp_path / "missing_{lang2}.yaml"))
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(cfg))
    result = run_demo(broken)
    assert result.returncode == 1
    assert "stage 'data en-fr' failed" in result.stderr and "missing_fr.yaml" in result.stderr
    assert str(tmp_path / "out" / "logs" / "data_en-fr.log") in result.stderr
    bad_pair = run_demo(broken, "--pairs", "fr-en")
    assert bad_pair.returncode != 0 and "'fr-en' is not en-<lang>" in bad_pair.stderr


# ---------------------------------------------------------------- the HTML report in a browser


def ensure_chromium() -> str:
    """Chromium from Debian (``apt-get install chromium``) when it is not there yet."""
    if shutil.which(CHROMIUM) is None:
        prefix = [] if os.geteuid() == 0 else ["sudo"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = [*prefix, "apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q",
                   "--no-install-recommends", CHROMIUM]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run([*prefix, "apt-get", "-o", "DPkg::Lock::Timeout=600", "update", "-q"], env=env, check=True)
            subprocess.run(install, env=env, check=True, capture_output=True)
    return shutil.which(CHROMIUM)


def chromium(page: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ensure_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--allow-file-access-from-files", *args, page.as_uri()],
        capture_output=True, text=True, timeout=180,
    )


def colourful_pixels(png: Path) -> int:
    """Pixels of saturated colour: the figures' lines, bars and heat-maps (text is grey)."""
    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    return int(((rgb.max(-1) - rgb.min(-1)) > 80).sum())


def test_chromium_renders_the_report_with_its_table_and_figures(demo, tmp_path):
    _, out, _ = demo
    page = out / "report.html"
    dom = chromium(page, "--dump-dom").stdout
    assert "<table" in dom and "Sep Emb + L1-3" in dom and "majority class" in dom
    images = re.findall(r'<img src="([^"]+)"', dom)
    assert len(images) >= 5 and all((out / src).exists() for src in images)

    shot = tmp_path / "report.png"
    result = chromium(page, f"--screenshot={shot}", "--window-size=1400,9000")
    assert shot.exists(), result.stderr[-2000:]
    # the same page with its figures gone: far fewer coloured pixels (the check can fail)
    without = out / "report_without_figures.html"
    without.write_text(re.sub(r'<img src="[^"]+"', '<img src="missing.png"', page.read_text()), encoding="utf-8")
    control = tmp_path / "control.png"
    chromium(without, f"--screenshot={control}", "--window-size=1400,9000")
    without.unlink()
    with_figures, without_figures = colourful_pixels(shot), colourful_pixels(control)
    assert with_figures > 20000 and with_figures > 10 * max(without_figures, 1)
