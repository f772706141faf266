"""Every config in configs/ runs through the real command lines, as a user calls them."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from xling import settings
from helpers import REPO, USER_DIR, tiny_train_args

BIN = Path(sys.executable).parent
# config name -> (lang_specific_embeddings, lang_specific_layers): the registry's sharing rows
ROWS = {s.config: s.model_options for s in settings.model_settings()}
# shrink the paper-scale run so it takes one CPU update; the model keeps the paper's size
SHRINK = {
    "paper": ["common.fp16=false", "dataset.batch_size=2", "task.tokens_per_sample=32",
              "model.max_positions=32", "distributed_training.distributed_world_size=1",
              "dataset.num_workers=0"],
    "tiny": [],
}
DIMS = {"paper": 768, "tiny": 64}


def run(cmd, cwd):
    env = {k: v for k, v in os.environ.items() if "WEIGHTS_ONLY" not in k}
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result


def test_every_row_has_a_config_at_both_scales():
    for scale in ("paper", "tiny"):
        names = {p.stem for p in (REPO / "configs" / scale).glob("*.yaml")} - {"pretrain"}
        assert names == set(ROWS)


@pytest.mark.parametrize("scale", ["paper", "tiny"])
@pytest.mark.parametrize("name", settings.NAMES)
def test_each_settings_config_sets_the_registrys_model_options(scale, name):
    """configs/<scale>/<config>.yaml of every Table 1 row, as written (no training): a config
    that drifts from xling.settings is caught here."""
    setting = settings.get(name)
    model = yaml.safe_load((REPO / "configs" / scale / f"{setting.config}.yaml").read_text(encoding="utf-8"))["model"]
    assert (model["lang_specific_embeddings"], model["lang_specific_layers"]) == setting.model_options, name


@pytest.mark.slow  # twelve trainings
@pytest.mark.parametrize("scale", ["tiny", "paper"])
@pytest.mark.parametrize("row", list(ROWS))
def test_hydra_config_trains(bilingual_data, tmp_path, scale, row):
    save_dir = tmp_path / "ckpt"
    run(
        [
            str(BIN / "fairseq-hydra-train"),
            "--config-dir", str(REPO / "configs" / scale),
            "--config-name", row,
            f"task.data={bilingual_data}",
            'task.langs="en,fr"',
            f"common.user_dir={USER_DIR}",
            "common.cpu=true",
            "optimization.max_update=2",
            "checkpoint.save_interval_updates=0",
            f"checkpoint.save_dir={save_dir}",
            f"hydra.run.dir={tmp_path / 'hydra'}",
            *SHRINK[scale],
        ],
        cwd=tmp_path,
    )
    model_cfg = torch.load(save_dir / "checkpoint_last.pt", map_location="cpu")["cfg"]["model"]
    model_cfg = model_cfg if isinstance(model_cfg, dict) else vars(model_cfg)
    assert (model_cfg["lang_specific_embeddings"], model_cfg["lang_specific_layers"]) == ROWS[row]
    assert model_cfg["encoder_layers"] == 8 and model_cfg["encoder_embed_dim"] == DIMS[scale]


@pytest.mark.slow
def test_plain_fairseq_train_with_user_dir(bilingual_data, tmp_path):
    """The CLI entry point, from another working directory, with a relative --user-dir."""
    work = tmp_path / "elsewhere"
    work.mkdir()
    argv = tiny_train_args(bilingual_data, tmp_path / "ckpt", "en,fr", 4, ["--lang-specific-layers", "3"])
    argv[argv.index("--user-dir") + 1] = os.path.relpath(USER_DIR, work)
    result = run([str(BIN / "fairseq-train"), *argv], cwd=work)
    assert '"train_loss_fr"' in result.stdout + result.stderr, "per-language loss logged"
    assert (tmp_path / "ckpt" / "checkpoint_last.pt").exists()


def test_fairseq_train_bf16_off_tpu(bilingual_data, tmp_path):
    """fairseq-train ties --bf16 to --tpu; without torch_xla the plugin unties them, so the
    model trains in bf16 on the device at hand instead of crashing in the Trainer."""
    save_dir = tmp_path / "ckpt"
    argv = tiny_train_args(bilingual_data, save_dir, "en,fr", 4, ["--bf16", "--on-cpu-convert-precision", "--optimizer", "xling_adam"])
    result = run([str(BIN / "fairseq-train"), *argv], cwd=tmp_path)
    assert "not on a TPU" in result.stdout + result.stderr
    state = torch.load(save_dir / "checkpoint_last.pt", map_location="cpu")
    assert state["cfg"]["common"]["bf16"] and not state["cfg"]["common"]["tpu"]
    history = state["optimizer_history"][-1]
    # bf16 weights with fp32 master weights (fairseq saves the weights cast back to fp32)
    assert history["optimizer_name"] == "FP16Optimizer" and history["num_updates"] == 4


def test_demo_presets_merge_over_the_default_and_an_unknown_one_is_named():
    from fairseq_ext.demo.config import DemoError, load_config

    default = load_config(REPO / "configs/demo/default.yaml")
    assert set(default.pretrain.settings) == {"default", "sep_emb_l1_6", "mono"}
    full = load_config(REPO / "configs/demo/default.yaml", presets=["full"])
    assert set(full.pretrain.settings) == {*settings.NAMES, "mono"}, "the full preset runs every row of Table 1"
    for name in settings.NAMES:  # load_config checks these too
        spec = full.pretrain.settings[name]
        assert (spec.config, spec.data) == (settings.get(name).config, settings.get(name).data), name
    assert str(full.out) == "results/demo-full"
    gpu = load_config(REPO / "configs/demo/default.yaml", ["pairs=[en-fr]"], presets=["full", "gpu"])
    assert gpu.pretrain.gpus == 1 and gpu.jobs == 1 and "model._name=xling_medium" in gpu.pretrain.overrides
    assert gpu.pairs == ["en-fr"], "command-line overrides come last"
    with pytest.raises(DemoError, match="preset 'nope'.*full"):
        load_config(REPO / "configs/demo/default.yaml", presets=["nope"])
    with pytest.raises(DemoError, match="pretrain.precision 'fp16'"):
        load_config(REPO / "configs/demo/default.yaml", ["pretrain.precision=fp16"])


def test_a_demo_setting_named_like_a_table1_row_must_train_that_rows_config_and_data():
    from fairseq_ext.demo.config import DemoError, load_config

    demo = REPO / "configs/demo/default.yaml"
    with pytest.raises(DemoError, match=r"pretrain.settings.sep_emb.data 'joint': Sep Emb trains on .*'union'"):
        load_config(demo, presets=["full"], overrides=["pretrain.settings.sep_emb.data=joint"])
    with pytest.raises(DemoError, match=r"pretrain.settings.wiki_cc.config 'sep_emb': .*'default'"):
        load_config(demo, presets=["full"], overrides=["pretrain.settings.wiki_cc.config=sep_emb"])
    # the control: a setting outside Table 1 may train any config on any data
    cfg = load_config(demo, ["pretrain.settings.mine.config=sep_emb", "pretrain.settings.mine.data=joint"])
    assert cfg.pretrain.settings["mine"].data == "joint"


def test_demo_update_shares_set_each_settings_updates_and_a_share_outside_0_1_is_refused(tmp_path):
    from fairseq_ext.demo.config import DemoError, load_config
    from fairseq_ext.demo.pretrain import max_update, plan_runs

    cfg = load_config(REPO / "configs/demo/default.yaml",
                      ["pretrain.updates=1000", "scale=2", "pretrain.settings.mono.update_share=0.25"])
    updates = {run.name: max_update(run) for run in plan_runs(cfg, "en-fr", tmp_path)}
    assert updates == {"default": 2000, "sep_emb_l1_6": 2000, "mono_en": 500, "mono_fr": 500}
    for share in ("0", "1.5"):
        with pytest.raises(DemoError, match=rf"pretrain.settings.mono.update_share {share}"):
            load_config(REPO / "configs/demo/default.yaml", [f"pretrain.settings.mono.update_share={share}"])


def test_importing_the_plugin_undoes_fairseqs_debug_logging_and_commands_print_no_debug_lines():
    def run(*argv):
        done = subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done

    level = "import logging, sys; print(logging.getLogger().level, len(logging.getLogger().handlers))"
    # the control: fairseq's own import switches the root logger to DEBUG, with a handler
    assert run("-c", f"import fairseq.models; {level}").stdout.split()[-2:] == ["10", "1"]
    assert run("-c", f"import fairseq_ext, fairseq.models; {level}").stdout.split()[-2:] == ["30", "0"]
    helped = run("-m", "fairseq_ext.analysis", "--help")
    assert "usage:" in helped.stdout
    assert "DEBUG" not in helped.stdout + helped.stderr and "tensorboardX" not in helped.stderr
