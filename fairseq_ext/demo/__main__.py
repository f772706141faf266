import sys

from fairseq_ext import patches
from fairseq_ext.demo.run import main

patches.apply()  # also applied by each step that loads or trains through fairseq
sys.exit(main())
