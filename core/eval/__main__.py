"""``python -m core.eval``: evaluate a model on the benchmarks (see :mod:`core.eval.cli`)."""

import sys

from core.eval.cli import main

sys.exit(main())
