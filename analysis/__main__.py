"""``python -m analysis [RUNS_DIR] --out paper_figs/``; see ``analysis.cli``."""

import sys

from analysis.cli import main

sys.exit(main())
