"""The ``harness`` verl trainer's wiring of a stateful method (EntroPIC), without a cluster: the trainer
object is built without verl's ``__init__`` (no Ray, no workers) on the actor config the dry run
composes for ``method=entropic``; the worker group is a stub that records the loss it is given and
returns the metrics verl's ``update_actor`` would. What the loss computes inside a real worker is
covered by tests/verl/test_training_worker.py (``MethodStateSync`` around verl's TrainingWorker)."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path

import pytest

from methods import ConfigError

vs = pytest.importorskip("core.verl.stages")


class StubWorkerGroup:
    """Records ``set_loss_fn`` calls; ``update_actor`` returns per-mini-batch state increments."""

    def __init__(self, increments):
        self.increments = list(increments)
        self.installed: list[dict | None] = []

    def set_loss_fn(self, fn):
        self.installed.append(fn.keywords.get("method_state"))

    def update_actor(self, batch):
        return {"metrics": {"method_state_delta/integral": self.increments.pop(0), "loss": [0.0, 0.0]}}


class StubCheckpointManager:
    def update_weights(self, step):
        pass


@functools.lru_cache(maxsize=None)
def _planned(method: str):
    """The verl config the dry run composes for ``method`` (composed once per method: it is the slow part)."""
    import tempfile

    from tests.cluster.conftest import make_cfg

    with tempfile.TemporaryDirectory() as d:
        return vs.plan(make_cfg("r1_distill_qwen_1p5b", method, runs_root=d), Path(d) / "run", dry_run=True)[0].config


def _trainer(tmp_path, method: str, global_steps: int, increments=()):
    from core.verl.plugin import HarnessTrainer

    config = copy.deepcopy(_planned(method))
    config.trainer.default_local_dir = str(tmp_path / "ckpt")
    config.trainer.resume_mode = "auto"
    t = object.__new__(HarnessTrainer)
    t.config, t.global_steps = config, global_steps
    t.checkpoint_manager = StubCheckpointManager()
    t.actor_rollout_wg = StubWorkerGroup(increments)
    return t


def test_harness_trainer_tracks_saves_and_restores_the_state(tmp_path, monkeypatch):
    from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

    monkeypatch.setattr(PPOTrainerSync, "_save_checkpoint", lambda self: None)  # verl's own save: not here
    t = _trainer(tmp_path, "entropic", 0, increments=[[0.25, 0.5], [-0.5, 0.25]])
    t.on_init_end()
    wg = t.actor_rollout_wg
    assert wg.installed == [{"integral": 0.0}]                         # the loss starts from the initial state
    wg.update_actor(None)                                              # step 1: two mini-batches
    assert t._harness_state.state == {"integral": 0.75}
    t.global_steps = 1
    t._save_checkpoint()
    saved = json.loads((tmp_path / "ckpt" / "global_step_1" / "harness_method_state.json").read_text())
    assert saved == {"method": "entropic", "version": 1, "state": {"integral": 0.75}}
    wg.update_actor(None)                                              # step 2 reinstalls the driver's state first
    assert wg.installed[-1] == {"integral": 0.75} and t._harness_state.state == {"integral": 0.5}

    resumed = _trainer(tmp_path, "entropic", 1)                        # verl resumed global_step_1
    resumed.on_init_end()
    assert resumed.actor_rollout_wg.installed == [{"integral": 0.75}]


def test_resuming_without_the_saved_state_is_refused(tmp_path):
    t = _trainer(tmp_path, "entropic", 3)
    with pytest.raises(ConfigError, match="no harness_method_state.json"):
        t.on_init_end()


def test_stateless_methods_are_not_wrapped(tmp_path):
    t = _trainer(tmp_path, "grpo", 0)
    t.on_init_end()
    assert t._harness_state is None and t.actor_rollout_wg.installed == [None]
    assert t.actor_rollout_wg.update_actor.__name__ == "update_actor"
