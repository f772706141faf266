"""The demo's Section 5: the pair's two monolingual models and one bilingual model
through the analysis toolkit (word translation, sentence retrieval, CKA, contextual word
maps). The generated config is kept next to the results, so the same analysis can be
rerun by hand: ``python -m fairseq_ext.analysis OUT/<pair>/analysis/config.yaml``."""

import json
from pathlib import Path
from typing import Dict, List

from omegaconf import OmegaConf

from xling import files
from fairseq_ext.analysis.cli import Runner
from fairseq_ext.analysis.config import load_config
from fairseq_ext.demo.config import DemoConfig
from fairseq_ext.demo.pretrain import checkpoint
from slurm.runs import PretrainRun

CONFIG = "config.yaml"
DONE = "done.json"


def analysis_config(cfg: DemoConfig, pair: str, runs: List[PretrainRun], data_dir: Path) -> Dict:
    """The analysis config of ``pair`` (as a dict): English′ is the second English Bible."""
    lang = cfg.langs(pair)[1]
    by_name = {run.name: run for run in runs}
    mono = {code: next(r for r in runs if r.langs == [code]).name for code in ("en", lang)}
    bilingual = cfg.analysis.bilingual
    models = {name: {"checkpoint": str(checkpoint(by_name[name]))} for name in [*mono.values(), bilingual]}
    english = f"{mono['en']}:en"
    return {
        "out_dir": str(cfg.out / pair / "analysis"),
        "eval_dir": str(data_dir / "EVAL"),
        "models": models,
        "comparisons": [
            {"pair": lang, "name": "monolingual", "english": english, "target": f"{mono[lang]}:{lang}"},
            {"pair": lang, "name": "bilingual", "english": f"{bilingual}:en", "target": f"{bilingual}:{lang}"},
            {"pair": lang, "name": "random", "english": english, "target": f"random:{mono[lang]}:{lang}"},
            {"pair": "en2", "name": "same_model", "english": english, "target": english},
            {"pair": "en2", "name": "random", "english": english, "target": f"random:{mono['en']}:en"},
        ],
        # the random encoder under the same map: the control of the alignment claims (demo.claims)
        "bli": {
            "pairs": [lang], "comparisons": ["monolingual", "bilingual", "random"], "resplit": True,
            "text": {code: str(data_dir / "text" / "bible" / f"{code}.train") for code in ("en", lang)},
        },
        "retrieval": {"pairs": [lang]},
        "word_maps": {"pairs": [lang], "comparisons": ["monolingual", "bilingual", "random"]},
    }


def analyse(cfg: DemoConfig, pair: str, runs: List[PretrainRun], data_dir: Path) -> bool:
    """Run the analysis unless a finished run had the same config; returns whether it ran."""
    out = cfg.out / pair / "analysis"
    config = OmegaConf.merge(analysis_config(cfg, pair, runs, data_dir), OmegaConf.from_dotlist(cfg.analysis.overrides))
    files.write_text(out / CONFIG, OmegaConf.to_yaml(config))
    analysis_cfg = load_config(str(out / CONFIG))
    record = {"config": OmegaConf.to_container(OmegaConf.structured(analysis_cfg), resolve=True)}
    done = out / DONE
    if done.exists() and json.loads(done.read_text(encoding="utf-8")) == record:
        return False
    Runner(analysis_cfg).run()
    files.write_json(done, record)
    return True
