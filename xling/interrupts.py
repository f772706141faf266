"""Ctrl-C and SIGTERM stop a command and the jobs it started, in the same way.

Python's defaults fall short in two ways. SIGTERM ends the process at once, without its
``finally`` blocks, so the jobs it started keep running. And a process started in the
background by a script (``cmd &`` in a non-interactive shell) inherits SIGINT ignored, so
Ctrl-C on its process group does nothing at all, to it or to its children.

:func:`stop_on_signals` makes both signals raise :class:`Interrupted` (a
KeyboardInterrupt) in the main thread while it is active, so the command's ``finally``
blocks stop its jobs. A further signal while that cleanup runs is ignored, so the cleanup
completes. Children get Python's defaults: a child started by exec does not inherit
Python-level handlers, and a forked one (a multiprocessing worker) that receives a
signal acts as if it had not inherited them (SIGINT raises KeyboardInterrupt, SIGTERM
ends it), so a pool's ``terminate()`` still ends its workers at once.
"""

import contextlib
import logging
import os
import signal

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int):
        self.signal = signal.Signals(signum).name
        self.exit_code = 128 + signum  # what a shell reports for a process ended by the signal
        super().__init__(self.signal)


def _as_python_default(signum, frame) -> None:
    if signum == signal.SIGINT:
        signal.default_int_handler(signum, frame)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _while_cleaning_up(signum, frame) -> None:
    logger.warning("%s ignored: stopping what was started", signal.Signals(signum).name)


@contextlib.contextmanager
def stop_on_signals():
    """Around a command's main function (in the main thread), before it starts any job;
    the previous handlers come back on exit."""
    owner = os.getpid()

    def interrupt(signum, frame) -> None:
        if os.getpid() != owner:  # a forked child
            _as_python_default(signum, frame)
            return
        for each in SIGNALS:
            signal.signal(each, _while_cleaning_up)
        raise Interrupted(signum)

    previous = {each: signal.getsignal(each) for each in SIGNALS}
    for each in SIGNALS:
        signal.signal(each, interrupt)
    try:
        yield
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)
