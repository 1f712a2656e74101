"""The verl plugin: config subclass, the guarded 'harness' loss mode, the registered trainer's hook."""

from __future__ import annotations

import types

import pytest
from omegaconf import OmegaConf

from methods import ConfigError


def test_plugin_loads_through_verls_entry_point():
    """`import verl` loads core.verl.plugin (pyproject [project.entry-points."verl.plugins"])."""
    import subprocess
    import sys

    code = ("import verl, sys; import verl.trainer.ppo.core_algos as ca; "
            "print('core.verl.plugin' in sys.modules, 'harness' in ca.POLICY_LOSS_REGISTRY)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True"]


def test_config_subclass_validates_and_is_built_by_omega_conf_to_dataclass():
    from verl.utils.config import omega_conf_to_dataclass

    from core.verl.plugin import HarnessPolicyLossConfig

    node = OmegaConf.create({"_target_": "core.verl.plugin.HarnessPolicyLossConfig", "loss_mode": "harness",
                             "method": "sent", "params": {"beta_low": 0.25}})
    cfg = omega_conf_to_dataclass(node)
    assert isinstance(cfg, HarnessPolicyLossConfig) and cfg.method == "sent" and cfg.params["beta_low"] == 0.25
    with pytest.raises(ConfigError, match="Did you mean 'mask'"):
        HarnessPolicyLossConfig(method="msk")
    with pytest.raises(ConfigError, match="keep_frac"):
        HarnessPolicyLossConfig(method="mask", params={"keep_frac": 2.0})


def test_harness_loss_mode_never_falls_back_to_a_builtin():
    import verl.trainer.ppo.core_algos as ca

    import core.verl.plugin  # noqa: F401

    with pytest.raises(ConfigError, match="set_loss_fn"):
        ca.get_policy_loss_fn("harness")(old_log_prob=None, log_prob=None, advantages=None, response_mask=None)


def test_registered_trainer_installs_the_harness_loss_on_init():
    from verl.trainer.ppo.v1 import get_trainer_cls

    from core.loss import harness_loss

    cls = get_trainer_cls("harness")
    installed = {}

    class FakeWG:
        def set_loss_fn(self, fn):
            installed["fn"] = fn

    actor = OmegaConf.merge(
        OmegaConf.load(__import__("importlib.resources").resources.files("verl") / "trainer/config/_generated_ppo_trainer.yaml"
                       ).actor_rollout_ref.actor,
        {"policy_loss": {"_target_": "core.verl.plugin.HarnessPolicyLossConfig", "loss_mode": "harness",
                         "method": "mask", "params": {"keep_frac": 0.3}},
         "calculate_entropy": True, "use_kl_loss": False, "kl_loss_coef": 0.0, "entropy_coeff": 0.0,
         "ppo_micro_batch_size_per_gpu": 4})
    trainer = cls.__new__(cls)  # the hook only needs config, the worker group and the checkpoint manager
    trainer.config = OmegaConf.create({"actor_rollout_ref": {"actor": actor}})
    trainer.actor_rollout_wg = FakeWG()
    trainer.checkpoint_manager = types.SimpleNamespace(update_weights=lambda step: None)
    trainer.global_steps = 0
    trainer.on_init_end()
    fn = installed["fn"]
    assert fn.func is harness_loss and fn.keywords["config"].policy_loss.method == "mask"

    # a config that would silently drop the method's reference KL is refused before training
    bad = OmegaConf.merge(actor, {"use_kl_loss": False})
    bad.policy_loss = {"_target_": "core.verl.plugin.HarnessPolicyLossConfig", "loss_mode": "harness",
                       "method": "sent", "params": {}}
    trainer.config = OmegaConf.create({"actor_rollout_ref": {"actor": bad}})
    with pytest.raises(ConfigError, match="use_kl_loss=True"):
        trainer.on_init_end()
