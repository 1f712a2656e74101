"""Kept importable for scripts written before the move: ``python -m core.evaluate`` is ``python -m core.eval``.

The evaluation CLI lives in :mod:`core.eval.cli`.
"""

import sys

from core.eval.cli import *  # noqa: F401,F403 - the old import path re-exports the CLI's public names
from core.eval.cli import main

if __name__ == "__main__":
    sys.exit(main())
