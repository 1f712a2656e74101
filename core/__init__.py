"""The shared core around verl, one package per concern.

At the top, what every backend shares: :mod:`core.loss` (the one loss entry point, ``harness_loss``,
that verl's workers and the embedded trainer call), :mod:`core.config` (config plumbing: the method
config group, the run-directory rule, the config getter), :mod:`core.runlog` (the run-log contract:
atomic writes, the run lock, DONE), :mod:`core.checks` (refusing a config before anything is
written), :mod:`core.tracking` (verl's experiment trackers), :mod:`core.cluster` (the SLURM
launcher's glue) and :mod:`core.metrics` (pass@k, avg@k, len@k: shared by evaluation and analysis,
owned by neither).

Packages: :mod:`core.verl` (the verl backend), :mod:`core.embedded` (the CPU backend),
:mod:`core.curriculum` (the semantic-entropy curriculum), :mod:`core.eval` (benchmarks, graders,
generation, the evaluate CLI). ``tests/test_layering.py`` checks who may import whom. Nothing under
``core`` imports ``sweep`` (the entry point) or ``analysis``. Importing ``core`` imports nothing.
"""
