"""The verl plugin's original import path, kept as API: verl configs and scripts that name
``core.verl_plugin`` (``VERL_USE_EXTERNAL_MODULES=core.verl_plugin``,
``policy_loss._target_=core.verl_plugin.HarnessPolicyLossConfig``) keep working.

The plugin lives in :mod:`core.verl.plugin`; importing this module imports it (which registers the
``harness`` policy loss and trainer once) and re-exports its names.
"""

from core.verl.plugin import *  # noqa: F401,F403
from core.verl.plugin import HarnessPolicyLossConfig, MethodStateSync, install_loss, LOSS_MODE, TRAINER_MODE  # noqa: F401
