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
- :func:`method_scale_record` / :func:`method_scale_lines`: what ``sweeps/method_scale/<model>_<method>.yaml``
  (merged into ``method`` by the defaults list) changed in a run's method: which default, from what to
  what, under which calibration rule and why (the file's leading comment). Backends print the lines at
  run start and store the record in ``meta.json`` (``method_scale``).

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


def _node(name: str, spec_cls: type, before: tuple = (), after: tuple = ()) -> type:
    """A structured-config node of ``spec_cls``'s fields and defaults (typed ``Any``: the spec's own
    ``validate`` checks types and ranges, with its messages) between the ``before`` and ``after`` fields."""
    fields = [(f.name, Any, dataclasses.field(default=f.default)) for f in dataclasses.fields(spec_cls)]
    return dataclasses.make_dataclass(name, [*before, *fields, *after])


def register_configs() -> list[str]:
    """Store the structured nodes (idempotent): one ``method/<name>`` per registered method (``name`` +
    its hyperparameters), ``schema/embedded_train`` (``TrainSpec``: the ``train`` block) and
    ``schema/embedded_model`` (``ModelSpec`` + ``name`` + ``rebuild``, which ``sweeps/model/tiny.yaml``
    extends). Returns the method names."""
    from hydra.core.config_store import ConfigStore

    import methods
    from core.embedded.model import ModelSpec
    from core.embedded.spec import TrainSpec

    cs = ConfigStore.instance()
    cs.store(group="schema", name="embedded_train", node=_node("TrainNode", TrainSpec))
    # name: the model's key (set by the YAML that extends the node). rebuild: false loads the shipped
    # weights (data/models/tiny/, data/models/tiny-smoke/ for preset=smoke) when the spec's key has them;
    # true builds the recipe's own model instead (once, then cached)
    cs.store(group="schema", name="embedded_model",
             node=_node("EmbeddedModelNode", ModelSpec, before=(("name", str),),
                        after=(("rebuild", Any, dataclasses.field(default=False)),)))
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


METHOD_SCALE_DIR = SWEEPS_DIR / "method_scale"


def method_scale_settings(model: str, method: str) -> dict | None:
    """The per-scale file ``sweeps/method_scale/<model>_<method>.yaml`` that Hydra merges into ``method``
    (``{"file", "values"}``), or None when this scale has none (the run keeps the paper's values)."""
    import yaml

    path = METHOD_SCALE_DIR / f"{model}_{method}.yaml"
    if not path.is_file():
        return None
    return {"file": str(path.relative_to(REPO_ROOT)), "values": dict(yaml.safe_load(path.read_text()) or {})}


def method_scale_record(cfg: Any) -> dict | None:
    """The ``meta.json`` record of the per-scale file applied to this run's method (None when none applies):
    ``file``; ``values`` (the file's); ``defaults`` (the method's paper default of each); ``used`` (the
    run's value: a paper row or the command line may override the file); ``overridden`` (fields whose
    used value is not the file's); ``rules`` (the calibration rule of each field, the method class's
    ``scale_rules``); ``why`` (the file's leading comment: its derivation)."""
    import methods

    method = select(cfg, "method")
    scale = method_scale_settings(str(select(cfg, "model.name")), str(method["name"]))
    if scale is None:
        return None
    cls = methods.get_method_cls(str(method["name"]))
    defaults = {f.name: f.default for f in dataclasses.fields(cls.params_cls)}
    scale["defaults"] = {k: defaults.get(k) for k in scale["values"]}
    scale["used"] = {k: method[k] for k in scale["values"] if k in method}
    scale["overridden"] = sorted(k for k, v in scale["used"].items() if v != scale["values"][k])
    scale["rules"] = {k: cls.scale_rules[k] for k in scale["values"] if k in cls.scale_rules}
    why = []
    for line in (REPO_ROOT / scale["file"]).read_text().splitlines():
        if not line.startswith("#"):
            break
        why.append(line.lstrip("#").strip())
    scale["why"] = " ".join(why)
    return scale


def method_scale_lines(record: dict | None) -> list[str]:
    """One line per field of a per-scale file, for the run's log: ``[method_scale] <file>: <field>
    <paper default> -> <value> (calibration rule <r>, docs/calibration.md)``; a field the file keeps at
    the paper's value, or that the run overrides again, says so."""
    if not record:
        return []
    out = []
    for k, v in record["values"].items():
        rule = record["rules"].get(k)
        why = f"calibration rule {rule.partition('/')[0]}, docs/calibration.md" if rule else "docs/calibration.md"
        used, default = record["used"].get(k, v), record["defaults"].get(k)
        again = f"; this run uses {used} (command line or paper row)" if k in record["overridden"] else ""
        change = f"{default} -> {v}" if v != default else f"{v} (the paper's value)"
        out.append(f"[method_scale] {record['file']}: {k} {change} ({why}{again})")
    return out
