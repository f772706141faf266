"""Preprocessing as array tasks: shards of a multi-part dump extracted and cleaned by separate
tasks, parts of the text encoded by separate tasks, and the data folder that comes out the
same as one task's; the binarizer writes what fairseq-preprocess writes."""

import filecmp
import json
import subprocess
import sys
from pathlib import Path

import pytest
import sentencepiece as spm
import yaml

from preprocess.binarize import DataFolder, build_data_folder, line_ranges
from preprocess.config import load_config
from preprocess.run import PHASES, build_stages, main, run, select
from preprocess.stage import StageError
from preprocess_fixtures import article, paragraphs, write_text_file, write_wikipedia_dump


def write_config(root: Path, work: str) -> Path:
    """English: a Wikipedia dump in three parts; French: two text files. One paragraph is in
    every English part, so only the merge across shards can drop it (twice)."""
    shared = paragraphs("en", 1, 999)
    en_parts = []
    for part in range(3):
        pages = [(f"Page {part}-{i}", article(paragraphs("en", 4, 10 * part + i) + (shared if i == 0 else [])), "0", False)
                 for i in range(8)]
        en_parts.append(str(write_wikipedia_dump(root / f"enwiki-pages-articles{part + 1}.xml.bz2", pages)))
    fr_files = [str(write_text_file(root / f"fr{n}.txt", [paragraphs("fr", 4, 100 + 20 * n + i) for i in range(12)]))
                for n in range(2)]
    config = {
        "langs": ["en", "fr"], "work_dir": str(root / work), "dictionaries": {}, "outputs": ["joint", "union"],
        "corpora": {"web": {"en": {"source": "wikipedia", "paths": en_parts}, "fr": {"source": "text", "paths": fr_files}}},
        "pretrain": {"domain": "web", "valid_docs": 0.2, "test_docs": 0.2},
        "vocab": {"joint_size": 300, "lang_size": 200}, "clean": {"workers": 1}, "binarize": {"workers": 1},
    }
    path = root / f"{work}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def bin_files(folder: Path):
    """The files of a data folder but its sentencepiece models (they hold their training file's path)."""
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and p.suffix != ".model")


def test_two_array_tasks_give_the_data_folders_of_one(tmp_path):
    one = load_config(write_config(tmp_path, "one"))
    run(one)
    two = load_config(write_config(tmp_path, "two"))

    stages = build_stages(two, tasks=2)
    text = {t: [s.name for s in select(stages, "text", t)] for t in (0, 1)}
    assert text[0] and text[1] and not set(text[0]) & set(text[1]), "each task extracts its own shards"
    assert {n.split("/")[-1] for n in text[0] + text[1] if n.startswith("extract/")} == {
        "enwiki-pages-articles1.xml.bz2", "enwiki-pages-articles2.xml.bz2", "enwiki-pages-articles3.xml.bz2",
        "fr0.txt", "fr1.txt"}

    with pytest.raises(StageError, match=r"input .*clean/web/en/enwiki-pages-articles1\.xml\.bz2\.tsv does not exist"):
        run(two, phase="corpus", tasks=2)  # the text phase has not run
    for phase in PHASES:
        for task in ((0, 1) if phase in ("text", "encode") else (None,)):
            ran = run(two, phase=phase, task=task, tasks=2)
            assert ran and all(m["ran"] for m in ran.values())
    for name in ("joint", "union"):
        a, b = one.work / "bin" / name, two.work / "bin" / name
        assert bin_files(a) == bin_files(b)
        assert all(filecmp.cmp(a / f, b / f, shallow=False) for f in bin_files(a)), f"{name} differs"
    assert (two.work / "bin/joint.parts/1of2").is_dir() and (two.work / "bin/joint.parts/2of2").is_dir()

    summary = json.loads((two.work / "manifest.json").read_text())["stages"]
    assert summary["clean/web/en"]["report"]["dropped"] == {"duplicate_across_shards": 2}
    assert summary["clean/web/fr"]["report"]["dropped"] == {"duplicate_across_shards": 0}
    assert summary["clean/web/en/enwiki-pages-articles2.xml.bz2"]["report"]["lines_out"] == 8 * 4 + 1
    assert not [n for n, m in run(two, tasks=2).items() if m["ran"]], "a rerun of every phase finds all done"


def test_a_task_number_out_of_range_is_refused(tmp_path, capsys):
    config = write_config(tmp_path, "w")
    with pytest.raises(SystemExit) as exit_info:
        main([str(config), "--phase", "text", "--task", "2", "--tasks", "2"])
    assert exit_info.value.code == 2 and "--task 2 --tasks 2" in capsys.readouterr().err


def test_two_files_with_one_name_are_refused(tmp_path):
    config = yaml.safe_load(write_config(tmp_path, "w").read_text())
    (tmp_path / "copy").mkdir()
    other = tmp_path / "copy" / "fr0.txt"
    other.write_bytes((tmp_path / "fr0.txt").read_bytes())
    config["corpora"]["web"]["fr"]["paths"].append(str(other))
    path = tmp_path / "dup.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match=r"corpora\.web\.fr\.paths: fr0\.txt matched twice"):
        build_stages(load_config(path))


def test_line_ranges_cover_the_file_at_line_starts(tmp_path):
    path = tmp_path / "t.txt"
    lines = [("x" * (i % 7)) + "\n" for i in range(50)]
    path.write_text("".join(lines))
    data = path.read_bytes()
    for parts in (1, 2, 3, 7, 60):
        ranges = line_ranges(path, parts)
        assert len(ranges) == parts and ranges[0][0] == 0 and ranges[-1][1] == len(data)
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
        assert all(start == 0 or data[start - 1:start] == b"\n" for start, _ in ranges)


def test_the_binarizer_writes_what_fairseq_preprocess_writes(tmp_path):
    """Union setting with text one model lacks but the other has (é, ß), blank lines, and
    characters neither knows (☃): spm pieces + fairseq-preprocess, by hand, give the same bytes."""
    en, fr = tmp_path / "en.txt", tmp_path / "fr.txt"
    en.write_text("the cat sat on the mat\nhello world\n\nanother doc\n" * 200 + "café ß ☃ Жук\n\n", encoding="utf-8")
    fr.write_text("le chat est sur le tapis é è\nbonjour le monde\n\nun autre document ß\n" * 200, encoding="utf-8")
    models = {}
    for lang, text in (("en", en), ("fr", fr)):
        spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(tmp_path / lang), vocab_size=50,
                                       character_coverage=1.0, hard_vocab_limit=False, minloglevel=2)
        models[lang] = tmp_path / f"{lang}.model"
    texts = {"en": {s: en for s in ("train", "valid", "test")}, "fr": {s: fr for s in ("train", "valid", "test")}}
    out = tmp_path / "union"
    build_data_folder(DataFolder("union", ["en", "fr"], models, texts, {"en": "", "fr": ""}), out, 2, 7)
    for lang, text in (("en", en), ("fr", fr)):
        sp = spm.SentencePieceProcessor(model_file=str(models[lang]))
        pieces = tmp_path / f"{lang}.pieces"
        pieces.write_text("".join(" ".join(sp.encode(line.strip(), out_type=str)) + "\n"
                                  for line in text.read_text(encoding="utf-8").splitlines()), encoding="utf-8")
        ref = tmp_path / f"ref_{lang}"
        subprocess.run([sys.executable, "-m", "fairseq_cli.preprocess", "--only-source", "--srcdict", str(out / "dict.txt"),
                        "--trainpref", str(pieces), "--destdir", str(ref), "--workers", "1", "--dataset-impl", "mmap"],
                       check=True, capture_output=True)
        for ext in ("bin", "idx"):
            assert filecmp.cmp(out / lang / f"train.{ext}", ref / f"train.{ext}", shallow=False), f"{lang} train.{ext}"
