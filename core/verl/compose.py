"""verl's own ``ppo_trainer`` config: composed from the YAML files packaged with verl 0.9.1 (Hydra's
compose API), our settings applied key by key with a typo guard, and validated as ``main_ppo`` would.

Owns nothing of the harness config (core/verl/config.py maps it to the settings applied here). May
import verl, Hydra/OmegaConf, ``core.loss`` and ``core.verl.plugin`` (which registers the loss mode
and the ``harness`` trainer); imported only where a plan is composed (verl is heavy).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Mapping

from omegaconf import DictConfig, OmegaConf

from methods import ConfigError

#: keys verl's packaged config does not have, which we add on purpose
_ADDED_KEYS = ("actor_rollout_ref.actor.policy_loss.method", "actor_rollout_ref.actor.policy_loss.params",
               "ray_kwargs.ray_init.runtime_env.env_vars")


def verl_config_dir() -> Path:
    spec = importlib.util.find_spec("verl")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("verl is not installed (pip install -e .)")
    return Path(spec.origin).parent / "trainer" / "config"


_BASE_CACHE: dict[str, DictConfig] = {}


def compose_base() -> DictConfig:
    """verl's packaged ``ppo_trainer`` config, composed with Hydra's compose API (cached; copies returned).

    Works inside a running Hydra app (sweep.py): the global Hydra state is saved and restored.
    """
    if "ppo_trainer" not in _BASE_CACHE:
        from hydra import compose, initialize_config_dir, version
        from hydra.core.global_hydra import GlobalHydra
        from hydra.initialize import get_gh_backup, restore_gh_from_backup

        backup, base = get_gh_backup(), version.VersionBase.instance().getbase()  # compose sets both globally
        GlobalHydra.instance().clear()
        try:
            with initialize_config_dir(config_dir=str(verl_config_dir()), version_base=None):
                _BASE_CACHE["ppo_trainer"] = compose("ppo_trainer")
        finally:
            restore_gh_from_backup(backup)
            version.VersionBase.instance().version_base = base
    cfg = _BASE_CACHE["ppo_trainer"].copy()
    OmegaConf.set_struct(cfg, True)
    return cfg


def _has_key(cfg: DictConfig, dotted: str) -> bool:
    parent_key, _, leaf = dotted.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
    return isinstance(parent, DictConfig) and leaf in parent.keys()  # keys() includes '???' values


def compose_verl_config(settings: Mapping[str, Any]) -> DictConfig:
    """verl's ``ppo_trainer`` with ``settings`` applied; a key verl does not have raises (typo guard),
    unless it is written ``+key`` (Hydra's add semantics: a key verl's packaged YAML lacks on purpose)."""
    cfg = compose_base()
    for key, value in settings.items():
        if key.startswith("+"):
            key = key[1:]
            if _has_key(cfg, key):
                raise ConfigError(f"{'+' + key!r}: verl's ppo_trainer already has {key!r}; drop the '+'")
            OmegaConf.update(cfg, key, value, merge=False, force_add=True)
            continue
        if not _has_key(cfg, key) and key not in _ADDED_KEYS:
            raise ConfigError(f"verl 0.9.1's ppo_trainer has no key {key!r} (check backend.overrides)")
        if OmegaConf.is_config(OmegaConf.select(cfg, key, default=None)) and isinstance(value, Mapping) \
                and key not in _ADDED_KEYS:
            OmegaConf.update(cfg, key, dict(value), merge=True)
        else:
            OmegaConf.update(cfg, key, value, merge=False, force_add=key in _ADDED_KEYS)
    return cfg


def validate_verl_config(vcfg: DictConfig):
    """What main_ppo validates, plus the harness checks. Returns the actor config dataclass."""
    import warnings

    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config

    import core.verl.plugin  # noqa: F401  (registers the loss mode and the 'harness' trainer)
    from core.loss import validate_actor_config
    from verl.trainer.ppo.v1 import get_trainer_cls
    from verl.utils.import_utils import load_extern_object

    actor = omega_conf_to_dataclass(vcfg.actor_rollout_ref.actor)
    validate_actor_config(actor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Disabled critic as adv_estimator != gae": intended
        validate_config(vcfg, use_reference_policy=need_reference_policy(vcfg), use_critic=need_critic(vcfg))
    get_trainer_cls(vcfg.trainer.v1.trainer_mode)
    rf = vcfg.reward.custom_reward_function
    load_extern_object(module_path=rf.path, object_name=rf.name)
    return actor
