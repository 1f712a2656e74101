"""Hydra launcher plugin of the harness (Hydra instantiates launchers only from ``hydra_plugins``).

``hydra/launcher=slurm`` (sweeps/hydra/launcher/slurm.yaml) selects :class:`HarnessSlurmLauncher`:
hydra-submitit-launcher's ``SlurmLauncher`` with the pre-submission checks and DONE-skipping of
:mod:`core.cluster`.
"""

from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

from core.cluster import PreflightMixin


class HarnessSlurmLauncher(PreflightMixin, SlurmLauncher):
    """``SlurmLauncher`` + :func:`core.cluster.preflight` + skipping runs whose ``DONE`` exists."""
