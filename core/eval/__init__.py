"""Evaluation: benchmarks, graders (math-verify, the code sandbox), generation backends and the
evaluate CLI (``python -m core.eval``).

May import: ``core.metrics``, ``core.runlog`` and the standard scientific stack. Never imports a
training backend (``core.verl``, ``core.embedded``'s trainer), ``sweep`` or ``analysis``; backends
register themselves here (a generator, a benchmark) instead. Importing the package imports
nothing heavy.
"""
