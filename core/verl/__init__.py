"""The verl backend: everything that runs the harness inside verl 0.9.1's ``main_ppo``.

Modules, one concern each:

- :mod:`core.verl.backend`: the run's orchestration (``sweep.py`` calls ``backend.run``): stages,
  resume, checkpoints, the final evaluation, config.yaml / meta.json / DONE;
- :mod:`core.verl.config`: the harness config -> verl settings (the one mapping), the check before
  submission, the device, the evaluation settings (all read from the composed config, no defaults);
- :mod:`core.verl.compose`: verl's packaged ``ppo_trainer`` composed, overridden and validated;
- :mod:`core.verl.stages`: the run directory, the curriculum's stage data and the stage plan;
- :mod:`core.verl.commands`: the command lines (``main_ppo``, ``python -m core.eval``) and environments;
- :mod:`core.verl.plugin` / :mod:`core.verl.hooks`: what verl's workers load (loss, trainer, token stats);
- :mod:`core.verl.data`, :mod:`core.verl.reward`, :mod:`core.verl.metrics`: the dataset files and reward
  function verl reads, verl's metrics -> the run log;
- :mod:`core.verl.cpu`, :mod:`core.verl.tiny`: the CPU mode and the tiny HF model of the CPU tests;
- :mod:`core.verl.ray_cluster` (roles, ports) and :mod:`core.verl.ray_nodes` (Ray processes): multi-node runs.

May import: ``core.config``, ``core.loss``, ``core.runlog``, ``core.checks``, ``core.tracking``,
``core.eval``, ``core.curriculum``, ``core.embedded`` (the tiny model's HF export), ``methods`` and verl.
Never imports ``sweep`` or ``analysis``. Importing the package imports nothing heavy.
"""
