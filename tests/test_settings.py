"""The registry of Table 1's settings (xling.settings): its contents agree with the
paper's naming, its numbers with their own Δ, its configs with configs/ and the grids;
the demo and grid checks refuse a row trained otherwise; it imports neither torch nor fairseq."""

import subprocess
import sys

import pytest
import yaml

from xling import settings
from helpers import REPO


def test_table1_rows_in_the_papers_order():
    assert settings.NAMES == ("default", "wiki_cc", "no_anchors", "default_anchors", "extra_anchors", "sep_emb",
                              "sep_l1_3", "sep_l1_6", "sep_emb_l1_3", "sep_emb_l1_6")
    assert list(settings.display_names().values()) == [
        "Default", "Wiki-CC", "No anchors", "Default anchors", "Extra anchors", "Sep Emb", "Sep L1-3", "Sep L1-6",
        "Sep Emb + L1-3", "Sep Emb + L1-6"]
    for setting in settings.SETTINGS:
        assert setting.description and "\n" not in setting.description, setting.name


def test_a_model_settings_name_and_display_follow_from_its_options():
    """Sep Emb + L1-K <-> sep_emb_l1_k <-> (True, K): three spellings that must agree."""
    models = settings.model_settings()
    assert [s.name for s in models] == ["default", "sep_emb", "sep_l1_3", "sep_l1_6", "sep_emb_l1_3", "sep_emb_l1_6"]
    for s in models:
        parts = (["emb"] if s.lang_specific_embeddings else []) + (
            [f"l1_{s.lang_specific_layers}"] if s.lang_specific_layers else [])
        assert s.name == ("sep_" + "_".join(parts) if parts else "default") == s.config
        assert settings.by_model_options(*s.model_options) is s
        assert settings.sharing_name(*s.model_options) == s.display
    # the rows that differ by data only train the Default model
    for s in settings.SETTINGS:
        assert s.config in {m.config for m in models}
        if s not in models:
            assert s.config == "default" and s.shares_all_parameters and s.data != "joint", s.name
    assert len({s.data for s in settings.SETTINGS if s.config == "default"}) == 5, "each data-only row its own data"


def test_model_flags_and_options_outside_table1():
    assert settings.get("default").model_flags() == []
    assert settings.get("sep_emb").model_flags() == ["--lang-specific-embeddings"]
    assert settings.get("sep_l1_3").model_flags() == ["--lang-specific-layers", "3"]
    assert settings.get("sep_emb_l1_6").model_flags() == ["--lang-specific-embeddings", "--lang-specific-layers", "6"]
    assert settings.by_model_options(False, 2) is None
    assert settings.sharing_name(False, 2) == "Sep L1-2" and settings.sharing_name(True, 5) == "Sep Emb + L1-5"


def test_an_unknown_name_lists_the_settings_there_are():
    with pytest.raises(KeyError, match=r"unknown setting 'sep_l2_4' \(Table 1's settings: default, wiki_cc, .*"
                                       r"sep_emb_l1_6\)"):
        settings.get("sep_l2_4")
    assert settings.display("mono") == "mono" and settings.display("sep_emb") == "Sep Emb"


def test_paper_numbers_agree_with_their_own_deltas():
    """Δ is the 3-language average minus Default's (the paper rounds from unrounded scores)."""
    default = settings.get("default").paper_scores()
    for s in settings.SETTINGS:
        scores = s.paper_scores()
        assert list(scores) == list(settings.TASKS)
        for task, row in scores.items():
            assert list(row) == list(settings.LANGS)
            mean = sum(row[lang] for lang in ("fr", "ru", "zh")) / 3
            base = sum(default[task][lang] for lang in ("fr", "ru", "zh")) / 3
            assert row["Δ"] == pytest.approx(mean - base, abs=0.11), (s.name, task)
    assert settings.get("sep_emb_l1_6").paper_scores()["XNLI"]["fr"] == 51.6
    assert settings.get("default").paper_scores()["NER"]["fr"] == 79.8


def test_the_demo_and_transfer_table_read_the_registry():
    from fairseq_ext.demo import claims
    from fairseq_ext.demo.paper import TABLE1
    from fairseq_ext.transfer.table import ROW_NAMES

    assert ROW_NAMES == settings.display_names() and list(TABLE1) == list(ROW_NAMES.values())
    assert TABLE1["Sep Emb + L1-6"]["XNLI"] == {"fr": 51.6, "ru": 35.8, "zh": 34.4, "Δ": -29.6}
    assert claims.HURTS == (
        ("wiki_cc", "default"), ("no_anchors", "default"), ("sep_emb", "default"), ("sep_l1_3", "default"),
        ("sep_l1_6", "default"), ("sep_emb_l1_3", "default"), ("sep_emb_l1_6", "default"),
        ("sep_l1_6", "sep_l1_3"), ("sep_emb_l1_3", "sep_emb"), ("sep_emb_l1_6", "sep_emb_l1_3"))


def test_each_comparison_is_one_the_papers_numbers_show():
    """'setting transfers worse than reference': its XNLI Δ is below the reference's."""
    for name, reference in settings.comparisons():
        assert reference in settings.NAMES and reference != name
        assert settings.get(name).paper_scores()["XNLI"]["Δ"] < settings.get(reference).paper_scores()["XNLI"]["Δ"]
    assert all(s.compared_with[0] == "default" for s in settings.SETTINGS if s.compared_with)


@pytest.mark.parametrize("scale", ["paper", "tiny"])
def test_every_config_of_configs_scale_is_a_registry_model(scale):
    for path in (REPO / "configs" / scale).glob("*.yaml"):
        if path.stem == "pretrain":
            continue
        model = yaml.safe_load(path.read_text(encoding="utf-8"))["model"]
        setting = settings.by_model_options(model["lang_specific_embeddings"], model["lang_specific_layers"])
        assert setting is not None and setting.config == path.stem, path


@pytest.mark.parametrize("scale", ["paper", "tiny"])
def test_shipped_grids_train_each_row_as_the_registry_says(scale):
    from slurm.config import load_grid

    grid = load_grid(REPO / "configs" / "grid" / f"{scale}.yaml")  # checks them as well
    for name in settings.NAMES:
        assert grid.settings[name].config == settings.get(name).config
        assert grid.settings[name].data.endswith(f"/bin/{settings.get(name).data}")


def write_grid(path, settings_block):
    path.write_text(yaml.safe_dump({"name": "g", "config_dir": str(REPO / "configs" / "tiny"), "out_dir": "x",
                                    "settings": settings_block}))
    return path


def test_a_grid_row_on_another_rows_data_or_config_is_refused(tmp_path):
    from slurm.config import LaunchError, load_grid

    bad = write_grid(tmp_path / "bad.yaml", {"sep_emb": {"config": "sep_emb", "data": "data/{pair}/bin/joint"}})
    with pytest.raises(LaunchError, match=rf"grid file {bad}: settings.sep_emb.data 'data/{{pair}}/bin/joint': "
                                          r"Sep Emb trains on the data folder 'union'"):
        load_grid(bad)
    by_pair = write_grid(tmp_path / "by_pair.yaml", {"no_anchors": {"config": "default", "data_by_pair": {
        "en-fr": "d/bin/no_anchors", "en-ru": "d/bin/union"}}})
    with pytest.raises(LaunchError, match=r"settings.no_anchors.data 'd/bin/union'"):
        load_grid(by_pair)
    config = write_grid(tmp_path / "config.yaml", {"sep_l1_3": {"config": "sep_l1_6", "data": "d/bin/union"}})
    with pytest.raises(LaunchError, match=r"settings.sep_l1_3.config 'sep_l1_6': Sep L1-3 trains the config 'sep_l1_3'"):
        load_grid(config)
    # the controls: a folder of another name, and a setting outside Table 1
    good = write_grid(tmp_path / "good.yaml", {"default": {"config": "default", "data": "data/{pair}/bin"},
                                               "mine": {"config": "sep_emb", "data": "d/bin/joint"}})
    assert set(load_grid(good).settings) == {"default", "mine"}


def test_the_registry_imports_neither_torch_nor_fairseq():
    script = (
        "import sys\n"
        "from xling import settings\n"
        "assert len(settings.SETTINGS) == 10\n"
        "print(sorted(m for m in ('torch', 'fairseq', 'fairseq_ext', 'numpy', 'omegaconf') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]"]
