"""Logging of every command, set up one way: the command's usual level by default (INFO
for the long-running ones, whose messages are their progress; WARNING for the launcher),
``-v`` for debug messages, fairseq's and the libraries' included."""

import logging
import sys

FORMAT = "%(asctime)s %(name)s: %(message)s"


def add_verbosity(parser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="debug messages too (every library's)")


def configure(verbose: bool, default: int = logging.INFO, fmt: str = FORMAT) -> None:
    """Root logging to stderr at ``default``, or DEBUG with ``-v``; replaces any earlier
    set-up (importing fairseq installs its own handler)."""
    logging.basicConfig(level=logging.DEBUG if verbose else default, format=fmt, stream=sys.stderr, force=True)
