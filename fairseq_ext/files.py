"""Writing outputs under a temporary name and renaming them when complete, so an
interrupted run never leaves a truncated file that a rerun would trust."""

import json
import os
from pathlib import Path

import torch


def write_atomically(path, write) -> None:
    """Call ``write(temporary_path)``, then rename the result to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    write(temporary)
    os.replace(temporary, path)


def write_text(path, text: str) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def save_torch(path, obj) -> None:
    write_atomically(path, lambda tmp: torch.save(obj, tmp))
