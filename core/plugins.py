"""The modules that register evaluation plugins (benchmarks, graders, generators) when imported.

The evaluation registries (:mod:`core.eval.benchmarks`, :mod:`core.eval.grading`,
:mod:`core.eval.generation`) import these the first time a name is not found, so that e.g.
``load_benchmark("synth_1")`` or ``python -m core.eval --backend embedded`` work without the caller
importing the embedded backend first. The list lives here, at the root of ``core``, and not in
``core.eval``: the backends plug into the evaluation (they register themselves), and ``core.eval``
never names a backend. A new backend that registers evaluation plugins adds its module here.

Imports nothing.
"""

EVAL_PLUGINS = ("core.embedded", "core.eval.code_benchmarks", "core.verl.tiny")
"""Imported in this order; one that is absent (not installed) is skipped."""
