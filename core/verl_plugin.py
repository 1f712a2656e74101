"""verl 0.9.1 plugin: makes verl's workers train with :func:`core.loss.harness_loss`.

Loaded in every verl process (driver and Ray workers) through the ``verl.plugins`` entry point
declared in pyproject.toml (verl imports it when ``VERL_USE_EXTERNAL_PLUGINS=auto``) or with
``VERL_USE_EXTERNAL_MODULES=core.verl_plugin``; both are set by ``core/verl_backend.py``. It:

1. defines :class:`HarnessPolicyLossConfig`, a ``PolicyLossConfig`` subclass carrying the method
   name and hyperparameters (select it with ``actor_rollout_ref.actor.policy_loss._target_=
   core.verl_plugin.HarnessPolicyLossConfig``; verl's dataclass is frozen, so they are declared fields);
2. registers the policy-loss name ``harness``, which raises if verl ever calls it as a plain policy
   loss: that would mean the whole-loss function was not installed, and we never fall back to GRPO;
3. registers the v1 trainer ``harness`` (``trainer.v1.trainer_mode=harness``), a synchronous PPO
   trainer that installs the harness loss on the actor workers with ``set_loss_fn`` once they exist.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from verl.trainer.ppo.core_algos import register_policy_loss
from verl.workers.config import PolicyLossConfig

from core.loss import harness_loss, method_from_config, validate_actor_config
from methods import ConfigError

__all__ = ["HarnessPolicyLossConfig", "install_loss", "LOSS_MODE", "TRAINER_MODE"]

LOSS_MODE = "harness"
TRAINER_MODE = "harness"


@dataclass
class HarnessPolicyLossConfig(PolicyLossConfig):
    """verl's policy-loss config plus the harness method (name + hyperparameters)."""

    loss_mode: str = LOSS_MODE
    method: str = "grpo"
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()
        method_from_config(self)  # fail fast on an unknown method or a bad hyperparameter


def _not_installed(*args: Any, **kwargs: Any):
    raise ConfigError(
        "verl called the 'harness' policy loss directly: the harness whole-loss function was not installed "
        "on the actor workers. Use trainer.v1.trainer_mode=harness (core/verl_backend.py sets it), which "
        "calls set_loss_fn(core.loss.harness_loss).")


if LOSS_MODE not in __import__("verl.trainer.ppo.core_algos", fromlist=["POLICY_LOSS_REGISTRY"]).POLICY_LOSS_REGISTRY:
    register_policy_loss(LOSS_MODE)(_not_installed)


def install_loss(worker_group: Any, actor_config: Any) -> None:
    """Validate the actor config against its method and install the harness loss on ``worker_group``."""
    validate_actor_config(actor_config)
    worker_group.set_loss_fn(functools.partial(harness_loss, config=actor_config))


def _register_trainer() -> None:
    try:
        from verl.trainer.ppo.v1 import register_trainer
        from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY
        from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync
    except ModuleNotFoundError as e:  # v1 trainer needs TransferQueue
        raise ModuleNotFoundError(f"verl's v1 trainer is unavailable ({e}); install TransferQueue>=0.1.10") from e

    if TRAINER_MODE in TRAINER_REGISTRY:
        return

    @register_trainer(TRAINER_MODE)
    class HarnessTrainer(PPOTrainerSync):
        """verl's synchronous PPO trainer with the harness loss on the actor."""

        def _build_replay_buffer(self):
            # verl picks the synchronous replay buffer by the mode name; ours *is* the sync trainer
            self.trainer_mode = "sync"
            return super()._build_replay_buffer()

        def on_init_end(self):
            super().on_init_end()
            from verl.utils.config import omega_conf_to_dataclass

            actor_cfg = omega_conf_to_dataclass(self.config.actor_rollout_ref.actor)
            method = method_from_config(actor_cfg.policy_loss)
            if getattr(method.params, "scope", "micro") == "batch":
                raise ConfigError(
                    f"method {method.name!r} with scope='batch' is implemented on the embedded backend only; on "
                    "verl use scope=micro (set ppo_micro_batch_size_per_gpu to the per-GPU mini-batch for "
                    "mini-batch-wide selection)")
            install_loss(self.actor_rollout_wg, actor_cfg)

    globals()["HarnessTrainer"] = HarnessTrainer


_register_trainer()
