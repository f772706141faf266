"""Worker pools that degrade to plain in-process mapping for one worker."""

import os
from contextlib import contextmanager
from multiprocessing import Pool


def worker_count(workers: int) -> int:
    return os.cpu_count() or 1 if workers == 0 else max(1, workers)


class _InProcess:
    @staticmethod
    def imap(fn, items, chunksize=1):
        return map(fn, items)


@contextmanager
def pool(workers: int, initializer=None, initargs=()):
    """``imap`` over ``workers`` processes (0 = all cores); one worker runs in this process."""
    if worker_count(workers) == 1:
        if initializer:
            initializer(*initargs)
        yield _InProcess()
    else:
        with Pool(worker_count(workers), initializer, initargs) as p:
            yield p
