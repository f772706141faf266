"""Command line: ``python -m fairseq_ext.analysis CONFIG [key=value ...] [--only ...]``."""

import sys

from fairseq_ext.analysis.cli import main

sys.exit(main())
