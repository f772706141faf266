"""Registration on import, fixes on purpose: ``fairseq_ext.patches``.

Each check runs in a fresh interpreter: the test session has imported fairseq_ext and
applied the fixes (by setting up the task) long before.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import USER_DIR, tiny_train_args

REPO = Path(__file__).resolve().parent.parent

# fairseq's objects the fixes replace, as a fingerprint of what they are now
FINGERPRINT = """
import json, numpy as np, torch
from fairseq import checkpoint_utils, trainer, utils
from fairseq.models import distributed_fairseq_model
from fairseq.optim.fp16_optimizer import _FP16OptimizerMixin
def fingerprint():
    return {
        "Trainer.__init__": trainer.Trainer.__init__.__qualname__ + str(id(trainer.Trainer.__init__)),
        "load_checkpoint": id(checkpoint_utils.load_checkpoint),
        "torch_persistent_save": id(checkpoint_utils.torch_persistent_save),
        "PathManager": id(checkpoint_utils.PathManager),
        "np.compat": hasattr(np, "compat"),
        "DistributedDataParallel": id(distributed_fairseq_model.DistributedDataParallel),
        "_sync_fp16_grads_to_fp32": id(_FP16OptimizerMixin._sync_fp16_grads_to_fp32),
        "_sync_fp32_params_to_fp16": id(_FP16OptimizerMixin._sync_fp32_params_to_fp16),
        "multi_tensor_total_norm": id(utils.multi_tensor_total_norm),
    }
"""


def run_python(code: str, *args: str) -> dict:
    """Runs ``code`` in a fresh interpreter from the repo root; its last line of stdout, as JSON."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_registers_and_patches_nothing():
    """Before/after ``import fairseq_ext``: every fixed object is fairseq's own; then apply()
    replaces each of them, and a second apply() replaces nothing."""
    out = run_python(FINGERPRINT + """
before = fingerprint()
import fairseq_ext
from fairseq.criterions import CRITERION_REGISTRY
from fairseq.models import ARCH_MODEL_REGISTRY, MODEL_REGISTRY
from fairseq.optim import OPTIMIZER_REGISTRY
from fairseq.tasks import TASK_REGISTRY
from fairseq_ext import patches
registered = ["xling_mlm" in TASK_REGISTRY, "xling_roberta" in MODEL_REGISTRY, "xling_tiny" in ARCH_MODEL_REGISTRY,
              "xling_masked_lm" in CRITERION_REGISTRY, "xling_adam" in OPTIMIZER_REGISTRY]
after_import = fingerprint()
applied_on_import = patches.applied()
first = patches.apply()
once = fingerprint()
second = patches.apply()
print(json.dumps({"before": before, "after_import": after_import, "registered": registered,
                  "applied_on_import": applied_on_import, "first": first, "once": once,
                  "second": second, "twice": fingerprint(), "all": list(patches.FIXES)}))
""")
    assert out["registered"] == [True] * 5
    assert out["after_import"] == out["before"], "importing the plugin changed fairseq"
    assert out["applied_on_import"] == ["safe_checkpoint_loading"]  # torch's allowlist, no fairseq code
    assert out["first"] == out["second"] == out["all"]
    changed = {key for key in out["before"] if out["once"][key] != out["before"][key]}
    assert changed == set(out["before"]), f"apply() left {set(out['before']) - changed} as fairseq's"
    assert out["twice"] == out["once"], "a second apply() changed something"


def test_setting_up_the_task_applies_every_fix(bilingual_data, tmp_path):
    """What fairseq-train and fairseq-hydra-train do: import the user dir (the fixes are not
    applied yet), then set the task up before building the model, criterion and Trainer."""
    argv = tiny_train_args(bilingual_data, tmp_path / "save", "en,fr", 1)
    out = run_python(FINGERPRINT + """
import sys
before = fingerprint()
from argparse import Namespace
from fairseq import options, tasks, utils
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
utils.import_user_module(Namespace(user_dir=sys.argv[1]))
from fairseq_ext import patches
imported = patches.applied()
unchanged = fingerprint() == before
args = options.parse_args_and_arch(options.get_training_parser(), json.loads(sys.argv[2]))
cfg = convert_namespace_to_omegaconf(args)
task = tasks.setup_task(cfg.task)
print(json.dumps({"imported": imported, "unchanged": unchanged, "applied": patches.applied(),
                  "all": list(patches.FIXES), "changed": sorted(k for k, v in fingerprint().items() if v != before[k]),
                  "keys": sorted(before)}))
""", USER_DIR, json.dumps(argv))
    assert out["imported"] == ["safe_checkpoint_loading"] and out["unchanged"]
    assert out["applied"] == out["all"]
    assert out["changed"] == out["keys"]


STATUS_IMPORTS = """
import json, sys
from slurm.launch import main
try:
    main(["status", *sys.argv[1:]])
except SystemExit as exit:
    assert exit.code == 0, exit.code
print(json.dumps(sorted(sys.modules)))
"""


def test_the_status_command_imports_nothing_that_submits_or_trains():
    """``python -m slurm.launch status``: the launcher imports the submission and signal
    machinery (submitit, slurm.submit, slurm.pretrain, the plugin's checkpoint code) only
    for the commands that submit."""
    modules = set(run_python(STATUS_IMPORTS, "--help"))
    assert "slurm.launch" in modules
    for heavy in ("submitit", "slurm.submit", "slurm.pretrain", "slurm.cluster",
                  "xling.interrupts", "fairseq_ext.checkpoints", "fairseq_ext.mixed_precision"):
        assert heavy not in modules, heavy


@pytest.mark.parametrize("status_args", [["--help"], ["GRID"]], ids=["help", "status"])
def test_the_status_command_imports_no_fairseq_and_no_torch(status_args, tmp_path):
    """It reads run folders and the queue: the fairseq-free core (``xling``) is all it needs."""
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"name: g\nout_dir: {tmp_path / 'out'}\nresources:\n  cluster: local\n")
    modules = run_python(STATUS_IMPORTS, *[str(grid) if a == "GRID" else a for a in status_args])
    assert "xling.config_loader" in modules
    assert [m for m in modules if m.split(".")[0] in ("fairseq", "torch", "fairseq_ext")] == []

