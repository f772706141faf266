"""The one config loader (xling.config_loader): every command's config reads the same
way, and every mistake is a ConfigError naming the file or override and the key."""

from dataclasses import dataclass, field

import pytest
from omegaconf import MISSING

from fairseq_ext.analysis.config import load_config as load_analysis
from xling.config_loader import ConfigError, load, merge, to_object
from fairseq_ext.transfer.config import load_config as load_transfer
from helpers import REPO


@dataclass
class Inner:
    lr: float = field(default=1e-3, metadata={"help": "learning rate"})
    epochs: int = 2


@dataclass
class Schema:
    name: str = MISSING
    train: Inner = field(default_factory=Inner)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_files_then_overrides_in_order(tmp_path):
    base = write(tmp_path, "base.yaml", "name: a\ntrain: {lr: 0.1, epochs: 3}\n")
    top = write(tmp_path, "top.yaml", "train: {epochs: 5}\n")
    cfg = load(Schema, [base, top], ["train.lr=0.5"])
    assert isinstance(cfg, Schema) and cfg.name == "a" and cfg.train.epochs == 5 and cfg.train.lr == 0.5


def test_each_mistake_names_its_file_or_override_and_key(tmp_path):
    good = write(tmp_path, "good.yaml", "name: a\n")
    typo = write(tmp_path, "typo.yaml", "name: a\ntrain: {lrr: 0.1}\n")
    with pytest.raises(ConfigError, match=r"typo\.yaml: .*lrr") as error:
        load(Schema, [good, typo])
    assert error.value.source == str(typo) and error.value.key == "train.lrr"
    with pytest.raises(ConfigError, match=r"override 'train\.epochs=many': .*epochs") as error:
        load(Schema, [good], ["train.lr=0.2", "train.epochs=many"])
    assert error.value.key == "train.epochs"
    with pytest.raises(ConfigError, match=r"override 'train\.lr': expected key=value"):
        load(Schema, [good], ["train.lr"])
    with pytest.raises(ConfigError, match=r"missing\.yaml: demo file does not exist"):
        load(Schema, [tmp_path / "missing.yaml"], what="demo")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load(Schema, [write(tmp_path, "bad.yaml", "name: [a\n")])
    with pytest.raises(ConfigError, match=r"name") as error:  # mandatory, never set
        load(Schema, [], ["train.lr=0.2"])
    assert error.value.key == "name"


def test_the_commands_own_checks_run_after_reading(tmp_path):
    def check(cfg):
        if cfg.train.epochs < 1:
            raise ConfigError(f"train.epochs is {cfg.train.epochs}: at least one")

    with pytest.raises(ConfigError, match="train.epochs is 0"):
        load(Schema, [], ["name=a", "train.epochs=0"], check=check)
    merged = merge(Schema, [], ["name=a"])  # a grid edits the merged config before converting it
    merged.train.epochs = 4
    assert to_object(merged, check=check).train.epochs == 4


def test_transfer_and_analysis_read_through_it(tmp_path):
    transfer = str(REPO / "configs/transfer/standin_classification.yaml")
    with pytest.raises(ConfigError, match=r"override 'train\.epoch=2'.*epoch"):
        load_transfer(transfer, ["train.epoch=2"])
    with pytest.raises(ConfigError, match="train.epochs is 0"):
        load_transfer(transfer, ["name=x", "setting=default", "model.name=m", "model.checkpoint=m.pt", "train.epochs=0"])
    analysis = str(REPO / "configs/analysis/registry_en_ru.yaml")
    with pytest.raises(ConfigError, match=r"override 'retrieval\.max_tests=5'.*max_tests"):
        load_analysis(analysis, ["retrieval.max_tests=5"])
    assert issubclass(ConfigError, ValueError), "callers that caught ValueError still catch it"


def test_the_corpus_config_reads_through_it(tmp_path):
    from preprocess.config import DEFAULT_DICTIONARIES
    from preprocess.config import load_config as load_corpus

    registry = REPO / "configs/data/registry_en_fr.yaml"
    cfg = load_corpus(registry, {"work_dir": str(tmp_path)}, ["eval.parallel_test=5"])
    assert cfg.eval.parallel_test == 5 and cfg.work == tmp_path and cfg.dictionaries == DEFAULT_DICTIONARIES
    assert cfg.corpora["bible"]["fr"].source == "bible", "sources are SourceConfigs, not plain mappings"
    with pytest.raises(ConfigError, match=r"override 'eval\.paralel_test=5': unknown option eval\.paralel_test"):
        load_corpus(registry, overrides=["eval.paralel_test=5"])
    text = registry.read_text() + "\ndictionaries: {}\n"
    none = write(tmp_path, "none.yaml", text)
    with pytest.raises(ConfigError, match=r"none\.yaml: outputs: extra_anchors needs a bilingual dictionary"):
        load_corpus(none)  # {} replaced the default dictionaries whole, so none is left for fr
    typo = write(tmp_path, "typo.yaml", text.replace("source: bible", "sorce: bible", 1))
    with pytest.raises(ConfigError, match=r"typo\.yaml: unknown option corpora\.bible\.\w+\.sorce"):
        load_corpus(typo)
