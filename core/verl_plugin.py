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
    import os

    from core.verl_hooks import SELECTION_DUMP_ENV, recording_loss

    dump = os.environ.get(SELECTION_DUMP_ENV)
    if dump:  # tests only: each loss call also records the selection it read (core/verl_hooks.py)
        worker_group.set_loss_fn(functools.partial(recording_loss, config=actor_config, dump=dump))
        return
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
            self._harness_method = method_from_config(actor_cfg.policy_loss)
            install_loss(self.actor_rollout_wg, actor_cfg)

        def _update_actor(self, batch, metrics):
            batch = _before_update(self, batch)
            return super()._update_actor(batch, metrics)

    globals()["HarnessTrainer"] = HarnessTrainer


def _before_update(trainer: Any, batch: Any) -> Any:
    """On the driver, before each actor update (core/verl_hooks.py): ``token_stats.jsonl`` and, for
    ``scope='batch'``, the selection over the whole rollout batch written into the batch."""
    import os

    import transfer_queue as tq
    from tensordict import TensorDict
    from verl.workers.utils.padding import response_to_nested

    from core import verl_hooks

    method = trainer._harness_method
    batch_scope = getattr(method.params, "scope", "micro") == "batch"
    stats_path = os.environ.get(verl_hooks.TOKEN_STATS_ENV)
    if not batch_scope and not stats_path:
        return batch
    fields = ["response_mask", "old_log_probs", "advantages", "entropy", "responses"]
    nested = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=fields)
    data = nested.to_padded_tensor()
    mask = data["response_mask"].to(bool)
    if stats_path:
        every = int(os.environ.get(verl_hooks.TOKEN_SETS_EVERY_ENV, "0") or 0)
        step = int(trainer.global_steps)
        with_sets = bool(every) and (step % every == 0 or step >= int(trainer.total_training_steps))
        tok = trainer.tokenizer
        rec = verl_hooks.token_stats_record(
            step, entropy=data["entropy"], responses=data["responses"], mask=mask, advantages=data["advantages"],
            old_log_prob=data["old_log_probs"], method=method.name,
            decode=(lambda t: tok.decode([t])) if with_sets else None)
        verl_hooks.append_token_stats(rec, stats_path)
    if batch_scope:
        sel = verl_hooks.batch_selection(method, old_log_prob=data["old_log_probs"], advantages=data["advantages"],
                                         mask=mask, entropy=data["entropy"])
        out = TensorDict({k: response_to_nested(v, nested["response_mask"]) for k, v in sel.items()},
                         batch_size=len(batch))
        batch = tq.kv_batch_put(keys=batch.keys, partition_id=batch.partition_id, fields=out)
        dump = os.environ.get(verl_hooks.SELECTION_DUMP_ENV)
        if dump:  # tests: the selection of each step, to compare runs with different micro-batch sizes
            import torch

            tmp = f"{dump}.step{int(trainer.global_steps)}.tmp"
            torch.save({"responses": data["responses"], "mask": mask, **sel}, tmp)
            os.replace(tmp, tmp[:-len(".tmp")] + ".pt")
    return batch


_register_trainer()
