"""Tiny in-process training for each of the paper's parameter-sharing settings."""

import pytest

from xling.settings import model_settings
from helpers import SHARING_SETTINGS, tiny_train_args, train


@pytest.fixture(scope="session")
def trained(bilingual_data, tmp_path_factory):
    """Each sharing setting trained for 40 updates: {setting: (save_dir, json log records)}."""
    runs = {}
    for name, flags in SHARING_SETTINGS.items():
        save_dir = tmp_path_factory.mktemp(f"ckpt_{name}")
        records = train(tiny_train_args(bilingual_data, save_dir, "en,fr", 40, flags))
        runs[name] = (save_dir, records)
    return runs


@pytest.mark.parametrize("setting", list(SHARING_SETTINGS))
def test_loss_goes_down_and_is_logged_per_language(trained, setting):
    _, records = trained[setting]
    inner = [stats for name, stats in records if name == "train_inner"]
    assert len(inner) == 8, "40 updates logged every 5"
    first, last = float(inner[0]["loss"]), float(inner[-1]["loss"])
    assert last < first - 0.3, f"{setting}: loss {first} -> {last}"
    for stats in inner:
        assert "loss_en" in stats and "loss_fr" in stats and "ppl_fr" in stats

    valid = [stats for name, stats in records if name == "valid"]
    assert valid, "validation ran"
    for lang in ("en", "fr"):
        assert float(valid[-1][f"valid_loss_{lang}"]) > 0
        assert float(valid[-1][f"valid_ppl_{lang}"]) > 1
    # the overall loss is the token-weighted mean of the language losses
    losses = [float(valid[-1][f"valid_loss_{lang}"]) for lang in ("en", "fr")]
    assert min(losses) - 1e-3 <= float(valid[-1]["valid_loss"]) <= max(losses) + 1e-3


def test_checkpoints_of_every_setting_load_in_a_fresh_process(trained):
    """`import fairseq_ext` is all a user needs to load any setting under torch >= 2.6."""
    import json
    import subprocess
    import sys

    paths = {name: str(save_dir / "checkpoint_last.pt") for name, (save_dir, _) in trained.items()}
    script = """
import json, sys, torch
import fairseq_ext
from fairseq import checkpoint_utils
out = {}
for name, path in json.loads(sys.argv[1]).items():
    models, cfg, task = checkpoint_utils.load_model_ensemble_and_task([path])
    model = models[0]
    saved = torch.load(path, map_location="cpu")["model"]
    same = all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    enc = model.encoder.sentence_encoder
    out[name] = [type(model).__name__, task.langs, enc.lang_specific_embeddings, enc.lang_specific_layers, same]
print(json.dumps(out))
"""
    env = {k: v for k, v in __import__("os").environ.items() if "WEIGHTS_ONLY" not in k}
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(paths)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    expected = {s.name: s.model_options for s in model_settings()}  # (lang_specific_embeddings, _layers)
    assert set(loaded) == set(expected), "every sharing setting was trained"
    for name, (emb, layers) in expected.items():
        model_class, langs, got_emb, got_layers, same = loaded[name]
        assert model_class == "XlingRobertaModel" and langs == ["en", "fr"]
        assert (got_emb, got_layers) == (emb, layers)
        assert same, f"{name}: loaded parameters differ from the saved ones"
