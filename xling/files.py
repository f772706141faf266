"""Writing outputs under a temporary name and renaming them when complete, so an
interrupted run never leaves a truncated file that a rerun would trust.

A write that fails (a full disk, an interrupt) removes its temporary file and leaves the
previous content of the path as it was; its OSError names the path.
"""

import json
import os
import shutil
from pathlib import Path


def write_atomically(path, write) -> None:
    """Call ``write(temporary_path)``, then rename the result to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        cause = _os_error(error)
        if cause is not None:  # its file name is the temporary one, or none
            raise OSError(cause.errno, cause.strerror or str(cause), str(path)) from error
        raise


def _os_error(error: BaseException):
    """The OSError behind ``error``: torch's zip writer, closing after a failed write,
    raises its own RuntimeError ("unexpected pos") over the full disk's OSError. An
    interrupt stays an interrupt."""
    while isinstance(error, Exception) and not isinstance(error, OSError):
        error = error.__cause__ or error.__context__
    return error if isinstance(error, OSError) else None


def write_text(path, text: str) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def _torch_save(obj, path: Path) -> None:
    import torch  # here: the rest of this module (and xling) needs no torch

    # through a Python file: torch's own file writer reports a full disk as "unexpected pos"
    with open(path, "wb") as f:
        torch.save(obj, f)


def save_torch(path, obj) -> None:
    write_atomically(path, lambda tmp: _torch_save(obj, tmp))


def copy_atomically(source, path) -> None:
    """Copy ``source`` to ``path`` under a temporary name, then rename it into place."""
    write_atomically(path, lambda tmp: shutil.copyfile(source, tmp))
