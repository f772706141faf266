"""One live writer per run folder: ``RUN/writer.lock``, which names its holder (user, host,
pid, job) and which the kernel frees when the holder dies.

The process that writes a run folder (the launcher's job on rank 0, one point of a
transfer grid) holds the file with ``flock`` for as long as it runs. However that process
ends, SIGKILL included, the kernel releases the lock, so no lock outlives its holder: a
file still naming a holder that no longer holds it is a stale lock, and the next writer
takes it over and says so. A clean end empties the file.

Launchers call :func:`holder` before they start a job, and the job itself calls
:func:`acquire`, so a second run into a busy folder is refused before it starts, and a
race between two launchers still leaves one writer. Across nodes this needs a file
system whose ``flock`` reaches every node (NFSv4, GPFS, Lustre mounted with ``flock``).
"""

import datetime
import errno
import fcntl
import getpass
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Optional

logger = logging.getLogger(__name__)

LOCK = "writer.lock"
# holder() takes the lock for an instant to test it, so a writer starting at that instant
# retries; and a writer writes its name just after taking the lock, so holder() waits for it
ATTEMPTS, PAUSE_S = 20, 0.05


class RunFolderBusy(RuntimeError):
    """Another live process writes the run folder."""


def describe(owner: Optional[dict]) -> str:
    if not owner:
        return "a process that has not yet written its name"
    job = f", job {owner['job_id']}" if owner.get("job_id") else ""
    return f"pid {owner.get('pid')} of {owner.get('user')} on {owner.get('host')}{job}, since {owner.get('since')}"


def _read(file) -> Optional[dict]:
    file.seek(0)
    text = file.read()
    try:
        return json.loads(text) if text.strip() else None
    except json.JSONDecodeError:  # its holder was killed while writing its name
        return {"pid": "?", "user": "?", "host": "?", "since": "?"}


def _try_lock(file) -> bool:
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EACCES):
            return False
        raise OSError(error.errno, f"cannot lock ({error.strerror}): the run folder's file system has no flock",
                      file.name) from error
    return True


def _lock_soon(file) -> bool:
    for _ in range(ATTEMPTS):
        if _try_lock(file):
            return True
        time.sleep(PAUSE_S)
    return False


def _open(path: Path):
    return os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o644), "r+", encoding="utf-8")


def holder(folder) -> Optional[dict]:
    """Who writes ``folder`` now (as :func:`acquire` recorded it), or None if nobody does."""
    path = Path(folder) / LOCK
    if not path.exists():
        return None
    with _open(path) as file:
        if _try_lock(file):
            return None  # closing the file releases the lock again
        for _ in range(ATTEMPTS):  # a writer that has just taken it writes its name next
            owner = _read(file)
            if owner:
                return owner
            time.sleep(PAUSE_S)
        return {}


class RunLock:
    """The held lock of one run folder; ``took_over`` names the dead holder it replaced."""

    def __init__(self, folder, job_id: Optional[str] = None, wait: bool = False):
        self.path = Path(folder) / LOCK
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = _open(self.path)
        if wait:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        elif not _lock_soon(self._file):
            owner = _read(self._file)
            self._file.close()
            raise RunFolderBusy(
                f"{self.path.parent} is being written by {describe(owner)}: a second writer would corrupt it; "
                "wait for that one to end, or stop it (a rerun then resumes)"
            )
        self.took_over = _read(self._file)
        if self.took_over:
            logger.warning("%s: took over the stale lock of %s, which no longer runs", self.path, describe(self.took_over))
        self.owner = {
            "user": getpass.getuser(), "host": socket.gethostname(), "pid": os.getpid(), "job_id": job_id,
            "since": datetime.datetime.now().isoformat(timespec="seconds"),
        }
        self._file.seek(0)
        self._file.truncate()
        self._file.write(json.dumps(self.owner) + "\n")
        self._file.flush()

    def release(self) -> None:
        if self._file.closed:
            return
        self._file.seek(0)
        self._file.truncate()  # a clean end: the next writer has nothing to take over
        self._file.close()

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def acquire(folder, job_id: Optional[str] = None, wait: bool = False) -> RunLock:
    """Hold ``folder``'s lock; RunFolderBusy if a live process holds it (``wait``: wait for it instead)."""
    return RunLock(folder, job_id, wait)
