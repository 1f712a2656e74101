"""The harness's configuration plumbing, in one place: the Hydra config tree's structured nodes,
the run-directory rule, and the one getter code uses to read a composed config.

- :func:`register_configs` stores one ``method/<name>`` node per registered method (its
  hyperparameters and paper defaults, so YAML never restates them and an unknown ``method.<key>``
  is rejected by Hydra).
- :func:`run_name` / :func:`run_dir`: ``<runs_root>/<sweep_name>/<run_name>``, the run-log contract's
  rule (docs/runlog.md), used by the entry point, the SLURM launcher and both backends.
- :func:`select`: a value of a composed config as plain Python. It has no default argument: every
  default lives in the config tree (``sweeps/``) or a structured config registered here, so a missing
  key is a bug in the tree and raises, naming the key.
- :func:`compose`: the composed job config for a list of overrides, outside a Hydra job (CLIs,
  calibration, tests).

Imports only Hydra/OmegaConf and ``methods``; never ``sweep`` or a backend.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

REPO_ROOT = Path(__file__).resolve().parents[1]
SWEEPS_DIR = REPO_ROOT / "sweeps"

_MISSING = object()


class MissingConfigKey(KeyError):
    """A key code reads is absent from the composed config (a gap in ``sweeps/``, not a user error)."""


def select(cfg: Any, key: str, *, optional: bool = False) -> Any:
    """``cfg.<key>`` as plain Python (containers resolved). A missing key raises
    :class:`MissingConfigKey` unless ``optional`` (then ``None``): defaults belong in the config tree."""
    v = OmegaConf.select(cfg, key, default=_MISSING) if OmegaConf.is_config(cfg) else _plain_select(cfg, key)
    if v is _MISSING:
        if optional:
            return None
        raise MissingConfigKey(f"config key {key!r} is missing from the composed config; it has a default in "
                               f"sweeps/ (or a structured config in core/config.py): compose the config "
                               f"through sweep.py / core.config.compose instead of building it by hand")
    return OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v


def _plain_select(d: Any, key: str) -> Any:
    for part in key.split("."):
        if isinstance(d, dict) and part in d:
            d = d[part]
        elif not isinstance(d, dict) and hasattr(d, part):
            d = getattr(d, part)
        else:
            return _MISSING
    return d


#: overrides that do not change what a run computes, so they are not part of its name
RUN_NAME_EXCLUDE = ("runs_root", "sweep_name", "backend.threads", "backend.progress", "backend.dry_run", "logger")


def _field_type(tp: Any) -> Any:
    """A type OmegaConf understands (``float | None`` -> ``Optional[float]``)."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return Optional[args[0]] if len(args) == 1 else Any
    return tp if tp in (int, float, str, bool) else Any


def register_configs() -> list[str]:
    """Store one ``method/<name>`` node per registered method (``name`` + its hyperparameters); idempotent."""
    from hydra.core.config_store import ConfigStore

    import methods

    cs = ConfigStore.instance()
    names = methods.method_names()
    for name in names:
        params_cls = methods.get_method_cls(name).params_cls
        hints = typing.get_type_hints(params_cls)
        fields = [("name", str, dataclasses.field(default=name))]
        fields += [(f.name, _field_type(hints[f.name]), dataclasses.field(default=f.default))
                   for f in dataclasses.fields(params_cls)]
        node = dataclasses.make_dataclass(f"{params_cls.__name__}Node", fields)
        cs.store(group="method", name=name, node=node)
    return names


def run_name(overrides: list[str], cfg: DictConfig | None = None) -> str:
    """``k=v`` of the run's overrides, sorted, joined by ``,``; always naming ``method`` and ``seed``."""
    from core.checks import canonical_override

    parts = {}
    for o in overrides:
        key, _, value = o.lstrip("+~").partition("=")
        key, value = canonical_override(o) or (key, value)  # the parsed value: 1e-4 and 0.0001 are one run
        if key.startswith("hydra") or key in RUN_NAME_EXCLUDE:
            continue
        parts[key] = value
    if cfg is not None:
        row = OmegaConf.select(cfg, "paper_row", default=None)
        if row is not None:  # +experiment=paper_tiny: named by the row's effective overrides (sweeps/paper_row/)
            parts.pop("paper_row", None)
            for k, v in (str(o).partition("=")[::2] for o in row.get("overrides") or []):
                parts.setdefault(k, v)  # a command-line value overrides the row's in the config: so in the name
        parts.setdefault("method", str(cfg.method.name))
        parts.setdefault("seed", str(cfg.seed))
    name = ",".join(f"{k}={v}" for k, v in sorted(parts.items()))
    return name.replace("/", "_").replace(" ", "")


def run_dir(cfg: DictConfig) -> Path:
    """``<runs_root>/<sweep_name>/<run_name>`` for a job config (inside or outside a Hydra job)."""
    overrides = OmegaConf.select(cfg, "hydra.overrides.task", default=None)
    if overrides is None:
        from hydra.core.hydra_config import HydraConfig

        overrides = HydraConfig.get().overrides.task
    return Path(str(cfg.runs_root)) / str(cfg.sweep_name) / run_name(list(overrides), cfg)




def compose(overrides: list[str] | tuple[str, ...] = (), config_name: str = "config") -> DictConfig:
    """The job config ``sweep.py`` would run for ``overrides``, composed outside a Hydra job."""
    from hydra import compose as _compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_configs()
    if GlobalHydra.instance().is_initialized():
        return _compose(config_name=config_name, overrides=list(overrides))
    with initialize_config_dir(config_dir=str(SWEEPS_DIR), version_base="1.3"):
        return _compose(config_name=config_name, overrides=list(overrides))
