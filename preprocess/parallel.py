"""Worker pools that degrade to plain in-process mapping for one worker."""

import os
import signal
from contextlib import contextmanager
from multiprocessing import Pool


def worker_count(workers: int) -> int:
    """``workers``, or for 0 the cores this process may use (a SLURM task's allocation, not the node's)."""
    return len(os.sched_getaffinity(0)) if workers == 0 else max(1, workers)


def threads_per_worker(workers: int) -> int:
    """Threads each of ``workers`` processes may run so that together they use the cores this
    process may use and no more (a library's own thread pool, such as sentencepiece's batch
    encoding, otherwise takes every core of the node whatever the task was given)."""
    return max(1, len(os.sched_getaffinity(0)) // worker_count(workers))


class _InProcess:
    @staticmethod
    def imap(fn, items, chunksize=1):
        return map(fn, items)


def _worker_start(initializer, initargs) -> None:
    """A forked worker inherits its parent's Python-level signal handlers (the demo's
    stop_on_signals), which run only when the worker's interpreter gets control: a worker
    waiting for a task in the pool's queue took the SIGTERM of ``Pool.terminate()`` and
    went on waiting, and the pool's exit waited for it forever (seen in ``make demo``'s
    data stage). SIGTERM gets the kernel's default (it ends the worker wherever it waits),
    SIGINT is left to the parent, which ends the pool. The worker was forked with SIGTERM
    blocked (:func:`pool`), so one that came before this point is taken now."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    if initializer:
        initializer(*initargs)


@contextmanager
def pool(workers: int, initializer=None, initargs=()):
    """``imap`` over ``workers`` processes (0 = all cores); one worker runs in this process."""
    if worker_count(workers) == 1:
        if initializer:
            initializer(*initargs)
        yield _InProcess()
    else:
        # Forked with SIGTERM blocked: a worker still starting when terminate() signals it
        # (a short map, a busy machine) would otherwise take it with the parent's handler,
        # such as submitit's, which ignores it, and the pool's exit would wait forever. The
        # pool's own threads, which fork replacement workers, inherit the blocked mask too.
        # Unblocked inside the with: a SIGTERM that came meanwhile then ends the pool too.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            with Pool(worker_count(workers), _worker_start, (initializer, initargs)) as p:
                signal.pthread_sigmask(signal.SIG_SETMASK, previous)
                yield p
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
