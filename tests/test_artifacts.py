"""Each run artifact's reader beside its writer: what a pretraining run, a transfer grid and
an analysis leave on disk reads back through the functions the report uses."""

import json

import pytest
import torch

from fairseq_ext.analysis import retrieval
from fairseq_ext.analysis.cli import TABLES, read_analysis_table, read_written
from fairseq_ext.analysis.tables import write_tables
from fairseq_ext.transfer.finetune import RESULT, read_result
from fairseq_ext.transfer.grid import SUMMARY, best_result, read_summaries
from slurm.runs import SUBMISSION, TRAIN_LOG, PretrainRun, read_run, read_submission
from slurm.submit import record_submission


def test_a_pretraining_run_reads_back_its_spec_and_last_validation(tmp_path):
    run = PretrainRun(name="default", config_dir="configs/tiny", config="default", data="/d/bin/joint",
                      langs=["en", "fr"], seed=1, run_dir=str(tmp_path), precision="bf16")
    assert read_run(tmp_path) is None and read_submission(tmp_path) is None, "nothing written yet"
    record_submission(run, "42", "local")
    records = [
        {"tag": "start", "precision": "bf16", "adam": "fused"},
        {"tag": "valid", "valid_loss_en": "8.1", "valid_loss_fr": "8.4", "valid_num_updates": "500"},
        {"tag": "start", "precision": "fp32"},  # a second attempt: the first start record describes the run
        {"tag": "valid", "valid_loss_en": "7.5", "valid_loss_fr": "7.9", "valid_num_updates": "1000"},
    ]
    log = "".join(json.dumps(r) + "\n" for r in records) + '{"tag": "valid", "valid_loss'  # cut short by a kill
    (tmp_path / TRAIN_LOG).write_text(log)
    summary = read_run(tmp_path)
    assert summary.run == run and read_submission(tmp_path)["job_id"] == "42"
    assert summary.updates == 1000 and summary.valid_losses == {"en": 7.5, "fr": 7.9}
    assert summary.start["precision"] == "bf16"


def test_a_run_with_one_loss_and_no_submission(tmp_path):
    (tmp_path / TRAIN_LOG).write_text(json.dumps({"tag": "valid", "valid_loss": "6.0", "valid_num_updates": "7"}))
    summary = read_run(tmp_path)
    assert summary.run is None and summary.valid_losses == {"all": 6.0} and summary.updates == 7
    assert not (tmp_path / SUBMISSION).exists()


def test_a_grid_reads_back_its_summaries_and_best_point(tmp_path):
    for setting, score in (("sep_emb", 0.3), ("default", 0.4)):
        grid = tmp_path / "bible_genre" / setting
        for point in ("lr1", "lr2"):
            (grid / point).mkdir(parents=True)
            (grid / point / RESULT).write_text(json.dumps({"point": point, "setting": setting}))
        (grid / SUMMARY).write_text(json.dumps({"setting": setting, "best_points": ["lr2", "lr1"], "test": {"fr": score}}))
    (tmp_path / "unfinished" / "lr1").mkdir(parents=True)  # no summary yet: not a grid to read
    found = read_summaries(tmp_path)
    assert [s["setting"] for _, s in found] == ["default", "sep_emb"], "in path order"
    grid_dir, summary = found[0]
    assert best_result(grid_dir, summary) == {"point": "lr2", "setting": "default"}
    assert read_result(tmp_path / "unfinished" / "lr1") is None


def test_analysis_tables_read_back_by_the_names_their_writer_uses(tmp_path):
    assert read_written(tmp_path) == {} and read_analysis_table(tmp_path, "retrieval") == []
    torch.manual_seed(0)
    train, test = torch.randn(2, 30, 8), torch.randn(2, 12, 8)
    rows = retrieval.retrieval_by_layer(train, train + 0.01 * torch.randn_like(train), test, test.clone())
    assert {retrieval.column(a, "nn", d) for a in (True, False) for d in ("to_en", "from_en")} <= set(rows[0])
    write_tables([{"pair": "fr", retrieval.TEST_SIZE: 12, **r} for r in rows], tmp_path / TABLES["retrieval"])
    read = read_analysis_table(tmp_path, "retrieval")
    assert [float(r[retrieval.column(True)]) for r in read] == pytest.approx([r[retrieval.column(True)] for r in rows])
    assert float(read[0][retrieval.column(True)]) == 1.0, "a near-copy of the English side is found by the map"
    with pytest.raises(KeyError):
        read_analysis_table(tmp_path, "no_such_analysis")
