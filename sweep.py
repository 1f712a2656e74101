"""The harness's entry point (Hydra): one run, or a grid with ``-m``.

    python sweep.py                                     # one run: method=grpo seed=0, embedded CPU
    python sweep.py -m method=sent,mask,clip seed=0,1,2 # a grid (basic launcher: one after another)
    python sweep.py -m hydra/launcher=submitit_local method=grpo,en seed=0,1   # jobs in parallel
    python sweep.py preset=smoke                        # CI-sized

The ``method`` config group is generated here from the method registry (``methods/``): one
structured node per method with its paper defaults, so YAML never restates a default and an
unknown ``method.<key>`` is rejected by Hydra. Per-scale settings live in
``sweeps/method_scale/<model>_<method>.yaml``.

Run directory: ``<runs_root>/<sweep_name>/<run_name>``, ``run_name`` built from the command-line
overrides (``method=sent,seed=0``), stable across relaunches; a run whose ``DONE`` exists is skipped.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from pathlib import Path
from typing import Any, Optional

import hydra
from omegaconf import DictConfig, OmegaConf

#: overrides that do not change what a run computes, so they are not part of its name
RUN_NAME_EXCLUDE = ("runs_root", "sweep_name", "backend.threads", "backend.progress", "backend.dry_run", "logger")


def _field_type(tp: Any) -> Any:
    """A type OmegaConf understands (``float | None`` -> ``Optional[float]``)."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return Optional[args[0]] if len(args) == 1 else Any
    return tp if tp in (int, float, str, bool) else Any


def register_method_configs() -> list[str]:
    """Store one ``method/<name>`` node per registered method: ``name`` + its hyperparameters."""
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
    parts = {}
    for o in overrides:
        key, _, value = o.lstrip("+~").partition("=")
        if key.startswith("hydra") or key in RUN_NAME_EXCLUDE:
            continue
        parts[key] = value
    if cfg is not None:
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


METHODS = register_method_configs()


@hydra.main(version_base="1.3", config_path="sweeps", config_name="config")
def main(cfg: DictConfig) -> Any:
    rd = run_dir(cfg)
    backend = cfg.backend.name
    if backend == "embedded":
        from core.embedded.trainer import run

        return run(cfg, rd)
    if backend == "verl":
        try:
            from core import verl_backend
        except ImportError as exc:
            raise RuntimeError(f"backend=verl needs core/verl_backend.py and its dependencies: {exc}") from exc
        return verl_backend.run(cfg, rd)
    raise ValueError(f"unknown backend.name {backend!r}; valid: embedded, verl")


if __name__ == "__main__":
    sys.exit(0 if main() is None or True else 1)
