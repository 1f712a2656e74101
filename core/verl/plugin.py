"""verl 0.9.1 plugin: makes verl's workers train with :func:`core.loss.harness_loss`.

Loaded in every verl process (driver and Ray workers) through the ``verl.plugins`` entry point
declared in pyproject.toml (verl imports it when ``VERL_USE_EXTERNAL_PLUGINS=auto``) or with
``VERL_USE_EXTERNAL_MODULES=core.verl.plugin``; both are set by ``core/verl/config.py``. It:

1. defines :class:`HarnessPolicyLossConfig`, a ``PolicyLossConfig`` subclass carrying the method
   name and hyperparameters (select it with ``actor_rollout_ref.actor.policy_loss._target_=
   core.verl.plugin.HarnessPolicyLossConfig``; verl's dataclass is frozen, so they are declared fields);
2. registers the policy-loss name ``harness``, which raises if verl ever calls it as a plain policy
   loss: that would mean the whole-loss function was not installed, and we never fall back to GRPO;
3. registers the v1 trainer ``harness`` (``trainer.v1.trainer_mode=harness``), a synchronous PPO
   trainer that installs the harness loss on the actor workers with ``set_loss_fn`` once they exist;
4. keeps a stateful method's state (``LossMethod.init_state``, e.g. EntroPIC's integral) on the
   driver (:class:`MethodStateSync`): the loss runs in the workers and reports each call's state
   increments as ``SUM`` metrics; the driver adds them up after every update, reinstalls the loss
   with the summed state before the next one (all ranks start each step from the same state), and
   writes it next to verl's checkpoint (``global_step_N/harness_method_state.json``), from which a
   resumed run restores it.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from verl.trainer.ppo.core_algos import register_policy_loss
from verl.workers.config import PolicyLossConfig

from core.loss import STATE_DELTA_PREFIX, harness_loss, method_from_config, validate_actor_config
from core.runlog import atomic_write
from methods import ConfigError, LossMethod

__all__ = ["HarnessPolicyLossConfig", "install_loss", "MethodStateSync", "LOSS_MODE", "TRAINER_MODE"]

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
        "on the actor workers. Use trainer.v1.trainer_mode=harness (core/verl/config.py sets it), which "
        "calls set_loss_fn(core.loss.harness_loss).")


if LOSS_MODE not in __import__("verl.trainer.ppo.core_algos", fromlist=["POLICY_LOSS_REGISTRY"]).POLICY_LOSS_REGISTRY:
    register_policy_loss(LOSS_MODE)(_not_installed)


def install_loss(worker_group: Any, actor_config: Any, method_state: dict | None = None) -> None:
    """Validate the actor config against its method and install the harness loss on ``worker_group``
    (with a stateful method's state, which each worker then updates in its own copy)."""
    validate_actor_config(actor_config)
    from core.verl.hooks import SELECTION_DUMP_ENV, recording_loss

    kw = {} if method_state is None else {"method_state": dict(method_state)}
    dump = os.environ.get(SELECTION_DUMP_ENV)
    if dump:  # tests only: each loss call also records the selection it read (core/verl/hooks.py)
        worker_group.set_loss_fn(functools.partial(recording_loss, config=actor_config, dump=dump, **kw))
        return
    worker_group.set_loss_fn(functools.partial(harness_loss, config=actor_config, **kw))


class MethodStateSync:
    """The driver's copy of a stateful method's state on the verl backend (see the module docstring).

    ``absorb`` reads the update's metrics: per key, a list with one value per mini-batch (each the sum
    over that mini-batch's loss calls of the rank-averaged increments), or a scalar. With one data-
    parallel rank this is exactly the worker's state; with several, each rank runs its own micro-batch
    entropies within a step (as the released EntroPIC code does) and the driver keeps their mean.
    """

    FILE = "harness_method_state.json"

    def __init__(self, method: LossMethod):
        if not method.stateful():
            raise ConfigError(f"method {method.name!r} keeps no state")
        self.method = method
        self.state = method.init_state()

    def install(self, worker_group: Any, actor_config: Any) -> None:
        install_loss(worker_group, actor_config, method_state=self.state)

    def absorb(self, metrics: Mapping[str, Any]) -> None:
        for k in self.state:
            key = STATE_DELTA_PREFIX + k
            hits = [v for name, v in metrics.items() if name == key or name.endswith("/" + key)]
            if len(hits) != 1:
                raise ConfigError(f"the actor update returned {len(hits)} values of {key!r} (expected 1): the "
                                  f"harness loss did not run, or its metrics were renamed; the state of "
                                  f"{self.method.name!r} cannot be tracked")
            v = hits[0]
            self.state[k] += float(sum(v) if isinstance(v, (list, tuple)) else v)

    def save(self, folder: str) -> str:
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, self.FILE)
        atomic_write(path, json.dumps({"method": self.method.name, "version": self.method.version,
                                       "state": self.state}))
        return path

    def load(self, folder: str) -> None:
        path = os.path.join(folder, self.FILE)
        if not os.path.exists(path):
            raise ConfigError(f"resuming method {self.method.name!r} from {folder}, which has no {self.FILE}: its "
                              "state (e.g. EntroPIC's integral) was not saved with the checkpoint; start the run over")
        with open(path) as f:
            saved = json.load(f)
        if (saved.get("method") != self.method.name or saved.get("version") != self.method.version
                or set(saved.get("state", {})) != set(self.state)):
            raise ConfigError(f"{path} holds the state of method {saved.get('method')!r} v{saved.get('version')} "
                              f"{sorted(saved.get('state', {}))}, not of {self.method.name!r} v{self.method.version} "
                              f"{sorted(self.state)}")
        self.state = {k: float(v) for k, v in saved["state"].items()}


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
            method = self._harness_method = method_from_config(actor_cfg.policy_loss)
            self._harness_actor_cfg = actor_cfg
            self._harness_state = MethodStateSync(method) if method.stateful() else None
            if self._harness_state is not None and self.global_steps > 0:  # resumed: the state of that step
                self._harness_state.load(self._harness_resume_folder())
            install_loss(self.actor_rollout_wg, actor_cfg,
                         None if self._harness_state is None else self._harness_state.state)
            if self._harness_state is not None:
                wg, update = self.actor_rollout_wg, self.actor_rollout_wg.update_actor

                def update_and_track(*args, **kwargs):
                    self._harness_state.install(wg, self._harness_actor_cfg)  # every rank from the driver's state
                    out = update(*args, **kwargs)
                    self._harness_state.absorb(out["metrics"])
                    return out

                wg.update_actor = update_and_track

        def _harness_resume_folder(self) -> str:
            trainer_cfg = self.config.trainer
            if trainer_cfg.resume_mode == "resume_path":
                return os.path.abspath(trainer_cfg.resume_from_path)
            return os.path.join(os.path.abspath(trainer_cfg.default_local_dir), f"global_step_{self.global_steps}")

        def _save_checkpoint(self):
            # the state first: verl marks the step as the latest checkpoint at the end of its save, and a
            # kill in between must not leave a "latest" step without the state its resume requires
            if getattr(self, "_harness_state", None) is not None:
                self._harness_state.save(os.path.join(self.config.trainer.default_local_dir,
                                                       f"global_step_{self.global_steps}"))
            super()._save_checkpoint()

        def _update_actor(self, batch, metrics):
            batch = _before_update(self, batch)
            return super()._update_actor(batch, metrics)

    globals()["HarnessTrainer"] = HarnessTrainer


def _before_update(trainer: Any, batch: Any) -> Any:
    """On the driver, before each actor update (core/verl/hooks.py): ``token_stats.jsonl`` and, for
    ``scope='batch'``, the selection over the whole rollout batch written into the batch."""
    import transfer_queue as tq
    from tensordict import TensorDict
    from verl.workers.utils.padding import response_to_nested

    from core.verl import hooks as verl_hooks

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
