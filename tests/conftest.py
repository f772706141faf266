import contextlib
import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Under pytest-xdist (make test), the cores are shared between the workers: torch (and
# every process a test starts, which inherits the variable) gets its share, not all of
# them, so that two workers do not oversubscribe the machine.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("OMP_NUM_THREADS", str(share))

# The checkpoint tests must see torch's real default (weights_only=True).
os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
os.environ.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)

import fairseq_ext  # noqa: E402,F401 (registers the plugin for in-process runs)
from helpers import make_data  # noqa: E402
from registry_slice import small_config  # noqa: E402


@pytest.fixture(scope="session")
def bilingual_data(tmp_path_factory):
    """en and fr with disjoint words, equal sizes, in per-language sub-folders."""
    return make_data(tmp_path_factory.mktemp("en_fr"), {"en": (300, 40), "fr": (300, 40)})


@pytest.fixture(scope="session")
def trilingual_data(tmp_path_factory):
    """Three languages as file prefixes (train.<lang>.bin), to show neither is special."""
    return make_data(
        tmp_path_factory.mktemp("en_fr_de"),
        {"en": (120, 20), "fr": (120, 20), "de": (120, 20)},
        layout="prefixes",
    )


@pytest.fixture(scope="session")
def five_language_data(tmp_path_factory):
    """The paper's Section 5 languages with disjoint words and unequal sizes, in sub-folders."""
    sizes = {"en": (160, 20), "fr": (120, 20), "de": (80, 20), "ru": (60, 20), "zh": (40, 20)}
    return make_data(tmp_path_factory.mktemp("five_langs"), sizes)


@pytest.fixture(scope="session")
def registry_cache(tmp_path_factory):
    return Path(os.environ.get("XLING_REGISTRY_CACHE") or tmp_path_factory.mktemp("registry_cache"))


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory, registry_cache):
    """(config, manifests) of the registry slice's pipeline run (see registry_slice.py)."""
    from preprocess.run import run

    work = tmp_path_factory.mktemp("registry_en_fr")
    cfg = small_config(work, registry_cache)
    return cfg, run(cfg)


@contextlib.contextmanager
def _cluster_users(folder: Path):
    """The record of how many pytest processes of this run use the local cluster, and
    whether this run started it, read and written under an exclusive lock."""
    with open(folder / "local_slurm.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = folder / "local_slurm.json"
        record = json.loads(path.read_text()) if path.exists() else {"users": 0, "started": False}
        yield record
        path.write_text(json.dumps(record))


@pytest.fixture(scope="session")
def local_slurm(tmp_path_factory):
    """The one-node cluster of slurm/local_cluster.sh (which installs SLURM and munge if
    missing), up while a test needs it; taken down after, unless it was up before.

    Under xdist each worker has a session of its own, and the last worker to use the
    cluster takes it down: the first one to finish would otherwise cancel the jobs of the
    others' tests (``down`` cancels every job in the partition)."""
    script = str(Path(__file__).resolve().parents[1] / "slurm" / "local_cluster.sh")
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if "PYTEST_XDIST_WORKER" in os.environ else base  # the run's folder, above the workers'
    with _cluster_users(shared) as record:
        if record["users"] == 0 and subprocess.run([script, "status"], capture_output=True).returncode != 0:
            up = subprocess.run([script, "up"], capture_output=True, text=True)
            assert up.returncode == 0, up.stdout + up.stderr
            record["started"] = True
        record["users"] += 1
    yield
    with _cluster_users(shared) as record:
        record["users"] -= 1
        if record["users"] == 0 and record["started"]:
            record["started"] = False
            down = subprocess.run([script, "down"], capture_output=True, text=True)
            assert down.returncode == 0, down.stdout + down.stderr
