"""The verl backend: everything that runs the harness inside verl 0.9.1's ``main_ppo``.

Owns the translation of a harness config into verl's config, the run's orchestration (stages,
checkpoints, final evaluation), the plugin verl's workers load (:mod:`core.verl.plugin`), the
dataset files and reward function verl reads, converting verl's metrics into the run log, the CPU
mode (:mod:`core.verl.cpu`) and multi-node Ray clusters.

May import: ``core.loss``, ``core.runlog``, ``core.checks``, ``core.tracking``, ``core.eval``,
``core.curriculum``, ``core.embedded`` (the tiny model's HF export), ``methods`` and verl.
Never imports ``sweep`` or ``analysis``. Importing the package imports nothing heavy.
"""
