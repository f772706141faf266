"""Checkpoints that survive a kill at any moment, and a resume that survives a damaged
``checkpoint_last.pt``.

fairseq 0.12 writes the first file of a save under a temporary name and renames it, but
then *copies* it in place to the other names (``checkpoint_last.pt``, ``checkpoint_best.pt``,
an epoch's or an update's file). A kill during that copy leaves a truncated
``checkpoint_last.pt``, and every rerun of the command fails on it. :func:`install`
changes three things in ``fairseq.checkpoint_utils``:

- the first file is written by :func:`xling.files.save_torch`: temporary name, then
  rename; a failed write (a full disk) removes the temporary file and names the path;
- the other names are copied the same way, so at every moment each name holds a complete
  checkpoint. Copies rather than hard links: a file damaged in place later (a partial
  restore, an rsync) then damages one name only, and the others remain to fall back on;
- on resume, an unreadable ``checkpoint_last.pt`` is not loaded: the newest checkpoint of
  the save dir that loads is, and the log says so. Saves every
  ``--save-interval-updates`` therefore lose at most one interval.
"""

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from xling import files

logger = logging.getLogger(__name__)

LAST = "checkpoint_last.pt"


@dataclass
class ResumePoint:
    """What a run in ``save_dir`` resumes from."""

    path: Optional[Path]  # None: a fresh start
    updates: int
    unreadable_last: Optional[str] = None  # why checkpoint_last.pt was passed over

    def record(self) -> dict:
        """For the launcher's start record."""
        if self.unreadable_last is None:
            return {"resume_from_update": self.updates}
        return {
            "resume_from_update": self.updates,
            "resume_fallback": {"unreadable": LAST, "error": self.unreadable_last, "resumed_from": self.path.name},
        }


def stored_updates(path) -> int:
    """Updates stored in a checkpoint; reads only its pickle (the tensors are mapped, not read),
    which fails on a file cut short because a zip archive's directory comes last."""
    state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    return int(state["optimizer_history"][-1]["num_updates"])


def resume_point(save_dir) -> ResumePoint:
    """``checkpoint_last.pt`` if it loads; else the newest checkpoint of ``save_dir`` that does."""
    save_dir = Path(save_dir)
    last = save_dir / LAST
    if not last.exists():
        return ResumePoint(None, 0)
    try:
        return ResumePoint(last, stored_updates(last))
    except Exception as error:  # any failure to read it: the file is damaged
        damage = f"{type(error).__name__}: {error}".splitlines()[0]
    others = [p for p in save_dir.glob("checkpoint*.pt") if p.name != LAST]
    for candidate in sorted(others, key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True):
        try:
            point = ResumePoint(candidate, stored_updates(candidate), damage)
        except Exception:
            continue
        logger.warning("%s is unreadable (%s): resuming from %s (update %d), the newest intact checkpoint",
                       last, damage, candidate.name, point.updates)
        return point
    raise RuntimeError(f"{last} is unreadable ({damage}) and {save_dir} holds no other checkpoint that loads: "
                       f"remove {last} to train from the start")


def install() -> None:
    from fairseq import checkpoint_utils
    from fairseq.file_io import PathManager

    if getattr(checkpoint_utils.load_checkpoint, "falls_back", False):
        return

    class AtomicCopyPathManager(PathManager):
        """fairseq's PathManager, except that a local copy is renamed into place."""

        @staticmethod
        def copy(src_path: str, dst_path: str, overwrite: bool = False) -> bool:
            if PathManager.path_requires_pathmanager(src_path) or not overwrite:
                return PathManager.copy(src_path, dst_path, overwrite)
            files.copy_atomically(src_path, dst_path)
            return True

    original_save = checkpoint_utils.torch_persistent_save

    @functools.wraps(original_save)
    def torch_persistent_save(obj, filename, async_write: bool = False):
        if async_write or PathManager.path_requires_pathmanager(filename):
            return original_save(obj, filename, async_write)
        files.save_torch(filename, obj)

    original_load = checkpoint_utils.load_checkpoint

    @functools.wraps(original_load)
    def load_checkpoint(cfg, trainer, **passthrough_args):
        # only the default restore file of an unsharded run: a sharded one has one file per rank
        if cfg.restore_file != LAST or trainer.checkpoint_suffix:
            return original_load(cfg, trainer, **passthrough_args)
        point = resume_point(cfg.save_dir)
        if point.unreadable_last is None:
            return original_load(cfg, trainer, **passthrough_args)
        cfg.restore_file = str(point.path)
        try:
            return original_load(cfg, trainer, **passthrough_args)
        finally:
            cfg.restore_file = LAST  # the config saved with later checkpoints stays the user's

    load_checkpoint.falls_back = True
    checkpoint_utils.PathManager = AtomicCopyPathManager
    checkpoint_utils.torch_persistent_save = torch_persistent_save
    checkpoint_utils.load_checkpoint = load_checkpoint
