"""Resuming by rerunning the same command, and refusing checkpoints that would run code."""

import os
import pickle
import subprocess
import sys

import pytest
import torch

from helpers import SHARING_SETTINGS, tiny_train_args, train, whole_dictionary_layout


def final_parameters(save_dir):
    return torch.load(save_dir / "checkpoint_last.pt", map_location="cpu")["model"]


def test_stopped_and_resumed_run_equals_uninterrupted_run(bilingual_data, tmp_path):
    """24 updates straight vs 10 updates, stop, then the same command again up to 24.

    The stop falls mid-epoch (an epoch here is 17 batches), so the data iterator, the
    masking noise, dropout and the optimizer state must all resume exactly.
    """
    flags = SHARING_SETTINGS["sep_emb_l1_3"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(tiny_train_args(bilingual_data, straight, "en,fr", 24, flags))
    first_leg = train(tiny_train_args(bilingual_data, resumed, "en,fr", 10, flags))
    assert [s["train_num_updates"] for n, s in first_leg if n == "train"][-1] == "10"
    second_leg = train(tiny_train_args(bilingual_data, resumed, "en,fr", 24, flags))
    assert int(float(second_leg[0][1]["num_updates"])) > 10, "the second run resumed, not restarted"

    expected, actual = final_parameters(straight), final_parameters(resumed)
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.allclose(expected[key], actual[key], atol=1e-6, rtol=0), key


class _RunsCode:
    """A pickle payload that would create a marker file when unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    from fairseq import checkpoint_utils

    marker = tmp_path / "code_ran"
    path = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "args": _RunsCode(marker), "cfg": None}, path)

    with pytest.raises(pickle.UnpicklingError, match="system"):
        checkpoint_utils.load_checkpoint_to_cpu(str(path))
    assert not marker.exists(), "loading ran code"

    # the control: the same file loaded without the protection does run the payload,
    # so the assertion above could fail (done in a child process, as a user would)
    subprocess.run(
        [sys.executable, "-c", f"import torch; torch.load({str(path)!r}, weights_only=False)"],
        check=True,
    )
    assert marker.exists()


def test_a_checkpoint_with_whole_dictionary_tables_loads_converted(bilingual_data, tmp_path):
    from fairseq import checkpoint_utils

    train(tiny_train_args(bilingual_data, tmp_path / "run", "en,fr", 4, SHARING_SETTINGS["sep_emb"]))
    new, old = tmp_path / "run" / "checkpoint_last.pt", tmp_path / "old.pt"
    whole_dictionary_layout(new, old)
    assert torch.load(old)["model"]["encoder.sentence_encoder.extra_embed_tokens.0.weight"].shape[0] == len(
        torch.load(new)["model"]["encoder.sentence_encoder.vocabularies.1.rows"]
    )
    (reference,), _, task = checkpoint_utils.load_model_ensemble_and_task([str(new)])
    (converted,), _, _ = checkpoint_utils.load_model_ensemble_and_task([str(old)])
    assert reference.state_dict().keys() == converted.state_dict().keys()
    for key, value in reference.state_dict().items():
        assert torch.equal(value, converted.state_dict()[key]), key
    d = task.source_dictionary
    tokens = torch.tensor([[0, d.index("fr1"), d.index("fr2"), d.index("en1"), 2]])
    for lang in (0, 1):
        lang_id = torch.tensor([lang])
        assert torch.equal(reference.eval()(tokens, src_lang_id=lang_id)[0], converted.eval()(tokens, src_lang_id=lang_id)[0])


def test_a_whole_dictionary_checkpoint_without_its_data_says_how_to_convert(bilingual_data, tmp_path):
    from fairseq import checkpoint_utils

    train(tiny_train_args(bilingual_data, tmp_path / "run", "en,fr", 2, SHARING_SETTINGS["sep_emb"]))
    old = tmp_path / "old.pt"
    whole_dictionary_layout(tmp_path / "run" / "checkpoint_last.pt", old)
    elsewhere = tmp_path / "dict_only"
    elsewhere.mkdir()
    (elsewhere / "dict.txt").write_bytes((bilingual_data / "dict.txt").read_bytes())
    with pytest.raises(FileNotFoundError, match="converted from it when loaded: pass its data folder"):
        checkpoint_utils.load_model_ensemble_and_task([str(old)], arg_overrides={"data": str(elsewhere)})
    # with its data, the same file loads
    checkpoint_utils.load_model_ensemble_and_task([str(old)], arg_overrides={"data": str(bilingual_data)})
