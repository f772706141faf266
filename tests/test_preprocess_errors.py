"""The pipeline on user dumps (Wikipedia, CCNet, plain text): bad input, crashes and reruns,
configuration errors, and the code-switching rule."""

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

import preprocess.run as pipeline_run
from preprocess.codeswitch import code_switch
from preprocess.config import CodeSwitchConfig, load_config
from preprocess.fetch import Package, package_dir
from preprocess.run import run
from preprocess.sources.dictd import freedict_pairs
from preprocess.stage import StageError
from preprocess_fixtures import article, paragraphs, write_ccnet_shard, write_text_file, write_wikipedia_dump


def write_config(path: Path, corpora: dict, **extra) -> Path:
    config = {
        "langs": ["en", "fr"],
        "work_dir": str(path.parent / "work"),
        "corpora": {"web": corpora},
        "dictionaries": {},
        "outputs": ["joint", "union"],
        "pretrain": {"domain": "web", "valid_docs": 0.2, "test_docs": 0.2},
        "vocab": {"joint_size": 300, "lang_size": 200},
        **extra,
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture
def user_corpora(tmp_path):
    """English Wikipedia (bz2 dump) and French CCNet (json.gz), 30 documents each."""
    pages = [(f"Page {i}", article(paragraphs("en", 4, i)), "0", False) for i in range(30)]
    wiki = write_wikipedia_dump(tmp_path / "enwiki-pages-articles.xml.bz2", pages)
    docs = [("fr", "\n".join(paragraphs("fr", 4, 100 + i)).encode()) for i in range(30)]
    docs[3] = ("fr", docs[3][1] + b"\nune ligne \xff\xfe invalide dans un document")
    cc = write_ccnet_shard(tmp_path / "fr_head_0000.json.gz", docs)
    return tmp_path, {"en": {"source": "wikipedia", "paths": [str(wiki)]}, "fr": {"source": "ccnet", "paths": [str(cc)]}}


def test_user_dumps_become_data_folders_and_bad_bytes_are_counted(user_corpora):
    tmp, corpora = user_corpora
    cfg = load_config(write_config(tmp / "web.yaml", corpora))
    manifests = run(cfg)
    assert manifests["clean/web/fr/fr_head_0000.json.gz"]["report"]["dropped"]["invalid_utf8"] == 1
    assert manifests["extract/web/en/enwiki-pages-articles.xml.bz2"]["report"]["articles"] == 30
    for split in ("train", "valid", "test"):
        assert (cfg.work / "bin/joint/fr" / f"{split}.bin").stat().st_size > 0
    summary = json.loads((cfg.work / "manifest.json").read_text())
    record = summary["stages"]["clean/web/fr"]["outputs"][str(cfg.work / "clean/web/fr.tsv")]
    assert record["lines"] == 30 * 4 and len(record["sha256"]) == 64


def test_truncated_dump_fails_naming_the_file_and_leaves_no_output(user_corpora):
    tmp, corpora = user_corpora
    dump = Path(corpora["en"]["paths"][0])
    dump.write_bytes(dump.read_bytes()[:-200])
    cfg = load_config(write_config(tmp / "web.yaml", corpora))
    with pytest.raises(ValueError, match=r"enwiki-pages-articles\.xml\.bz2: truncated or corrupt"):
        run(cfg)
    assert not (cfg.work / "extract/web/en/enwiki-pages-articles.xml.bz2.tsv").exists()


def test_a_language_without_text_is_an_error_not_an_empty_output(user_corpora):
    tmp, corpora = user_corpora
    corpora["fr"]["language_field"] = "de"  # no document of the shard is German
    cfg = load_config(write_config(tmp / "web.yaml", corpora))
    with pytest.raises(ValueError, match=r"corpora\.web\.fr: the ccnet source yielded no text .*skipped_other_language"):
        run(cfg)
    assert not (cfg.work / "extract/web/fr/fr_head_0000.json.gz.tsv").exists()


def test_a_crashed_run_resumes_at_the_interrupted_stage(user_corpora, monkeypatch):
    tmp, corpora = user_corpora
    cfg = load_config(write_config(tmp / "web.yaml", corpora))
    real = pipeline_run.assemble_data_folder

    def crash_on_union(folder, parts, dest):
        if folder.setting == "union":
            (dest / "en").mkdir(parents=True)  # half-written, as a crash would leave it
            raise KeyboardInterrupt("killed")
        return real(folder, parts, dest)

    monkeypatch.setattr(pipeline_run, "assemble_data_folder", crash_on_union)
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    assert (cfg.work / "bin/joint/dict.txt").exists() and not (cfg.work / "bin/union").exists()

    monkeypatch.setattr(pipeline_run, "assemble_data_folder", real)
    manifests = run(cfg)
    assert [name for name, m in manifests.items() if m["ran"]] == ["binarize/union"]
    assert (cfg.work / "bin/union/fr/train.idx").exists() and not (cfg.work / "bin/union.tmp").exists()


def test_configuration_errors_name_the_option(tmp_path, user_corpora):
    _, corpora = user_corpora
    with pytest.raises(ValueError, match=r"bad\.yaml: unknown option pretrain\.vaild_docs"):
        load_config(write_config(tmp_path / "bad.yaml", corpora, pretrain={"domain": "web", "vaild_docs": 0.1}))
    with pytest.raises(ValueError, match=r"extra_anchors needs a bilingual dictionary with English for fr .*'dictionaries'"):
        load_config(write_config(tmp_path / "bad.yaml", corpora, outputs=["extra_anchors"]))
    with pytest.raises(ValueError, match=r"pretrain\.mismatch_domain: corpus 'libreoffice' is not defined"):
        load_config(write_config(tmp_path / "bad.yaml", corpora, outputs=["domain_mismatch"]))
    with pytest.raises(ValueError, match=r"eval\.classification_shares: \[0\.6, 0\.3\] must be three positive shares"):
        load_config(write_config(tmp_path / "bad.yaml", corpora, eval={"classification_shares": [0.6, 0.3]}))
    with pytest.raises(ValueError, match=r"eval\.bible_heldout_nt_chapters: 0\.0 must be in \(0, 1\]"):
        load_config(write_config(tmp_path / "bad.yaml", corpora, eval={"bible_heldout_nt_chapters": 0.0}))
    with pytest.raises(FileNotFoundError, match=r"corpora\.web\.en\.paths: no file matches"):
        corpora["en"]["paths"] = [str(tmp_path / "missing-*.xml.bz2")]
        run(load_config(write_config(tmp_path / "bad.yaml", corpora)))


def test_a_missing_dictionary_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"freedict-eng-fra\.index is missing"):
        list(freedict_pairs(tmp_path / "freedict-eng-fra", english_first=True))
    with pytest.raises(FileNotFoundError, match=r"fetch stage downloads debian package 'dict-freedict-eng-fra'"):
        package_dir(tmp_path, Package("dict-freedict-eng-fra", "debian"))


def test_an_empty_stage_output_is_refused(tmp_path):
    from preprocess.stage import Stage, run_stage

    stage = Stage("empty", [tmp_path / "out.txt"], lambda tmp: tmp.write_text(""))
    with pytest.raises(StageError, match=r"stage 'empty' produced an empty .*out\.txt"):
        run_stage(stage)
    assert not (tmp_path / "out.txt").exists()


def test_code_switching_follows_the_papers_rule(tmp_path):
    """30% of dictionary words are replaced, never more than 15% of a batch's words."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(50)]
    docs = [[" ".join(rng.choice(words, 12)) for _ in range(8)] for _ in range(60)]
    src = write_text_file(tmp_path / "en.train", docs)

    def replaced_share(table):
        dest = tmp_path / "out.train"
        report = code_switch(src, dest, "en", table, {}, CodeSwitchConfig(batch_lines=8))
        before = src.read_text().split()
        after = dest.read_text().split()
        return report, sum(a != b for a, b in zip(before, after)) / len(before), after

    sparse = {w: [w.upper()] for w in words[:10]}  # about a third of the tokens (Zipf-free draw: 10/50)
    report, share, after = replaced_share(sparse)
    covered = report["in_dictionary"] / report["words"]
    assert abs(report["replaced"] / report["in_dictionary"] - 0.3) < 0.03
    assert abs(share - 0.3 * covered) < 0.02 and set(after) <= set(words) | {w.upper() for w in words[:10]}

    full = {w: [w.upper()] for w in words}  # every word is in the dictionary: the 15% cap binds
    report, share, _ = replaced_share(full)
    assert report["batches_capped"] > 0 and 0.14 <= share <= 0.15


def test_translations_are_weighted_towards_frequent_ones(tmp_path):
    src = write_text_file(tmp_path / "en.train", [["house " * 20] for _ in range(50)])
    common = write_text_file(tmp_path / "fr.train", [["maison " * 30 + "logis"]])
    code_switch(src, tmp_path / "out", "en", {"house": ["logis", "maison"]}, {"fr": common}, CodeSwitchConfig())
    counts = Counter(re.findall(r"\w+", (tmp_path / "out").read_text()))
    assert counts["maison"] > 5 * counts["logis"] > 0


def _sigterm_is_the_kernel_default(_):
    import signal

    return signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_pool_workers_end_on_terminate_under_the_demos_signal_handlers():
    """A forked worker inherited the demo's Python-level SIGTERM handler, took the pool's
    terminate() while it waited for a task, and the pool's exit hung."""
    import multiprocessing

    from xling.interrupts import stop_on_signals
    from preprocess.parallel import pool

    with stop_on_signals():
        plain = multiprocessing.get_context("fork").Pool(2)  # the control: what a worker inherits
        try:
            assert not any(plain.map(_sigterm_is_the_kernel_default, range(4)))
        finally:  # close and join, not terminate: its workers would not take the SIGTERM
            plain.close()
            plain.join()
        with pool(2) as workers:
            assert all(workers.imap(_sigterm_is_the_kernel_default, range(4)))


_SLOW_WORKER_START = """
import os, signal, sys, time
from preprocess.parallel import pool

signal.signal(signal.SIGTERM, lambda *_: print("SIGTERM ignored", flush=True))  # as submitit's jobs do
os.register_at_fork(after_in_child=lambda: time.sleep(1.0))  # each worker starts late, as on a busy machine
with pool(2):
    pass  # a map so short that terminate() signals the workers before they have started
print("pool closed", flush=True)
"""


def test_the_pools_exit_does_not_wait_for_a_worker_that_was_signalled_while_starting():
    """Seen in a SLURM array task of the corpus pipeline: a worker forked under the job's
    SIGTERM handler took terminate()'s SIGTERM before it had reset that handler, went on
    to wait for tasks, and the task hung at its pool's exit until it was cancelled."""
    from helpers import REPO

    run = subprocess.run([sys.executable, "-c", _SLOW_WORKER_START], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["pool closed"], run.stdout  # the parent's handler never ran in a worker


def test_a_share_of_the_new_testament_can_be_pretrained_on():
    from preprocess.config import EvalConfig
    from preprocess.splits import is_reserved

    nt = [f"{book}.{chapter}" for book in range(40, 67) for chapter in range(1, 11)]
    ot = [f"{book}.{chapter}" for book in range(1, 40) for chapter in range(1, 11)]
    assert all(is_reserved("bible", doc, EvalConfig()) for doc in nt), "by default the whole NT is held out"
    half = EvalConfig(bible_heldout_nt_chapters=0.5)
    assert 0.4 < np.mean([is_reserved("bible", doc, half) for doc in nt]) < 0.6
    # the Old Testament's share is its own option
    assert [is_reserved("bible", d, half) for d in ot] == [is_reserved("bible", d, EvalConfig()) for d in ot]
    assert 0.05 < np.mean([is_reserved("bible", d, half) for d in ot]) < 0.15


def _thread_budgets(cpus):
    from preprocess.parallel import threads_per_worker

    os.sched_setaffinity(0, cpus)  # what a SLURM task given these cores sees
    return [threads_per_worker(w) for w in (1, 2, 0)]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to give a task one of them")
def test_a_task_encodes_with_the_cores_it_was_given_and_no_more(tmp_path):
    """sentencepiece's batch encoding ran a thread per core of the node, so one array task
    took both cores and a second task gained nothing."""
    import multiprocessing

    from helpers import train_spm
    from preprocess.binarize import _Encoder

    cpus = sorted(os.sched_getaffinity(0))[:2]
    with multiprocessing.get_context("fork").Pool(1) as child:
        assert child.apply(_thread_budgets, ([cpus[0]],)) == [1, 1, 1]
        assert child.apply(_thread_budgets, (cpus,)) == [2, 1, 1]

    train_spm(tmp_path / "m", paragraphs("en", 200, 1), 100)
    encoder = _Encoder(str(tmp_path / "m.model"), "", {}, threads=1)
    calls = []
    real = encoder.sp

    class Spy:
        def encode(self, lines, **kwargs):
            calls.append(kwargs.get("num_threads"))
            return real.encode(lines, **kwargs)

        def __getattr__(self, name):
            return getattr(real, name)

    encoder.sp = Spy()
    encoder.encode(["a line", "another line"])
    assert calls[0] == 1
