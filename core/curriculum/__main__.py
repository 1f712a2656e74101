"""``python -m core.curriculum``: score a dataset's semantic entropy and write the stage files."""

from core.curriculum.cli import main

raise SystemExit(main())
