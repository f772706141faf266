import sys

from fairseq_ext.demo.run import main

sys.exit(main())
