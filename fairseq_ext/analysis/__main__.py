"""Command line: ``python -m fairseq_ext.analysis CONFIG [key=value ...] [--only ...]``."""

import sys

from fairseq_ext.analysis.cli import main

if __name__ == "__main__":  # importable without running: the xling-analysis script calls main itself
    sys.exit(main())  # main applies fairseq_ext.patches
