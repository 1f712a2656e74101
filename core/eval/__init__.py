"""Evaluation: benchmarks, graders (math-verify, the code sandbox), generation backends and the
evaluate CLI (``python -m core.eval``).

Modules: ``benchmarks`` (the benchmark registry), ``code_benchmarks`` (LiveCodeBench, HumanEval),
``answers`` (answer extraction, normalisation), ``grading`` (the grader registry, the math
grader), ``pool`` (worker processes with a deadline), ``code_grading`` and ``sandbox`` (the code
grader), ``generation`` (the generator registry, vLLM), ``prompts``, ``models`` (evaluation-only
model configs), ``evaluation`` (generate, grade, write samples, summarise) and ``cli``.

May import: ``core.metrics``, ``core.runlog``, ``core.plugins`` (the names of the modules that
register plugins) and the standard scientific stack. Never imports a training backend
(``core.verl``, ``core.embedded``), the curriculum, ``sweep`` or ``analysis``: backends register
themselves here (a generator, a benchmark, a grader) instead. Importing the package imports
nothing heavy.
"""
