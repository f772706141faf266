"""Idempotent, crash-safe pipeline stages.

A stage names its inputs, its parameters and its outputs (files or folders). It writes
each output under a temporary name (``<output>.tmp``) and the runner renames it into place
only when the stage has finished, then writes ``<output>.manifest.json`` next to the first
output: the stage's report (lines in and out, reasons for drops), the input signatures and
the outputs' sizes, line counts and sha256. A rerun skips a stage whose manifest matches
its current inputs and parameters and whose outputs are still there, so a run that crashed
resumes at the stage that was interrupted, and a stage never leaves a half-written output
under its final name.
"""

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

logger = logging.getLogger("preprocess")


class StageError(RuntimeError):
    pass


@dataclass
class Stage:
    name: str
    outputs: List[Path]
    run: Callable[..., dict]  # called with the temporary output paths, returns the report
    inputs: List[Path] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    phase: str = ""  # the pipeline's step it belongs to (preprocess.run.PHASES)
    task: Optional[int] = None  # which array task of its phase runs it; None: the phase runs serially

    @property
    def manifest_path(self) -> Path:
        first = self.outputs[0]
        return first.with_name(first.name + ".manifest.json")


def tmp_path(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def input_signature(path: Path, stage: str) -> dict:
    """Cheap change detection: sizes and modification times (outputs are renamed into place)."""
    if not path.exists():
        raise StageError(f"stage '{stage}': input {path} does not exist")
    if path.is_file():
        st = path.stat()
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    digest = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            st = p.stat()
            digest.update(f"{p.relative_to(path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return {"tree": digest.hexdigest()}


def file_record(path: Path) -> dict:
    digest, lines, size = hashlib.sha256(), 0, 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
            lines += block.count(b"\n")
            size += len(block)
    return {"size": size, "lines": lines, "sha256": digest.hexdigest()}


def output_record(path: Path) -> dict:
    if path.is_file():
        return file_record(path)
    return {str(p.relative_to(path)): file_record(p) for p in sorted(path.rglob("*")) if p.is_file()}


def _still_there(path: Path, record: dict) -> bool:
    if path.is_file():
        return "sha256" in record and path.stat().st_size == record["size"]
    if not path.is_dir() or "sha256" in record:
        return False
    present = {str(p.relative_to(path)): p.stat().st_size for p in path.rglob("*") if p.is_file()}
    return present == {name: r["size"] for name, r in record.items()}


def _check_not_empty(stage: Stage, path: Path) -> None:
    empty = path.stat().st_size == 0 if path.is_file() else not any(path.iterdir())
    if empty:
        raise StageError(f"stage '{stage.name}' produced an empty {path}: its input holds no usable text")


def run_stage(stage: Stage, force: bool = False) -> dict:
    """Run ``stage`` unless its manifest says it is up to date; returns the manifest."""
    signature = {
        "params": json.loads(json.dumps(stage.params, sort_keys=True, default=str)),
        "inputs": {str(p): input_signature(p, stage.name) for p in stage.inputs},
    }
    manifest_path = stage.manifest_path
    if manifest_path.exists() and not force:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("signature") == signature and all(
            _still_there(Path(p), r) for p, r in manifest.get("outputs", {}).items()
        ):
            logger.info("%s: up to date, skipped", stage.name)
            manifest["ran"] = False
            return manifest
    for out in stage.outputs:
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove(tmp_path(out))
    logger.info("%s: running", stage.name)
    start = time.time()
    report = stage.run(*[tmp_path(out) for out in stage.outputs]) or {}
    for out in stage.outputs:
        if not tmp_path(out).exists():
            raise StageError(f"stage '{stage.name}' did not write {out}")
        _check_not_empty(stage, tmp_path(out))
    manifest_path.unlink(missing_ok=True)  # the outputs change from here on
    for out in stage.outputs:
        _remove(out)
        os.replace(tmp_path(out), out)
    manifest = {
        "stage": stage.name,
        "signature": signature,
        "report": report,
        "seconds": round(time.time() - start, 3),
        "outputs": {str(out): output_record(out) for out in stage.outputs},
    }
    write_json(manifest_path, manifest)
    manifest["ran"] = True
    return manifest


def write_json(path: Path, obj) -> None:
    tmp = tmp_path(path)
    tmp.write_text(json.dumps(obj, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def run_all(stages: List[Stage], force: bool = False) -> Dict[str, dict]:
    return {stage.name: run_stage(stage, force) for stage in stages}
