"""Checks of a job's config that run before anything is written, and the harness's user errors.

``sweep.py`` calls :func:`check_job` first: a model or data set the chosen backend cannot train, a
non-integer seed, a gradient clip that is not a positive number, an unknown benchmark or a bad
``eval.limit`` are refused here with one line naming the key and the fix. A :func:`user_errors`
exception is reported by ``sweep.py`` as that one line (no traceback; ``HYDRA_FULL_ERROR=1`` shows
it); anything else is a bug and keeps its traceback. ``docs/reliability.md`` lists every case.

No torch import here.
"""

from __future__ import annotations

import math
from typing import Any

from omegaconf import DictConfig, OmegaConf

__all__ = ["UserError", "user_errors", "check_job", "check_sweep_overrides", "canonical_override", "is_int_value"]


class UserError(ValueError):
    """Bad input from the user (a config value, a file): reported as one line, without a traceback."""


def user_errors() -> tuple[type[BaseException], ...]:
    """The exception types that are the user's to fix: bad config values and files (``UserError``,
    ``ConfigError``, ``CurriculumError``), a launch that must not happen (``LaunchError``), a run file
    that cannot be written or resumed (``RunFileError``, ``ResumeError``) and a diverged run (``FloatingPointError``)."""
    from core.cluster import LaunchError
    from core.curriculum import CurriculumError
    from core.runlog import ResumeError, RunFileError
    from methods.base import ConfigError

    return (UserError, ConfigError, CurriculumError, LaunchError, RunFileError, ResumeError, FloatingPointError)


def is_int_value(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _sel(cfg: Any, key: str, default: Any = None) -> Any:
    v = OmegaConf.select(cfg, key, default=default)
    return OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v


#: the data sets (``data=``) each backend trains
BACKEND_DATA = {"embedded": ("synth",), "verl": ("dapo_math_17k",)}


def check_job(cfg: DictConfig) -> None:
    """Refuse a job config that would train something other than what it says, or whose values are
    out of range; raises :class:`UserError` listing every problem (nothing has been written yet)."""
    problems: list[str] = []
    backend = str(_sel(cfg, "backend.name", "embedded"))
    seed = _sel(cfg, "seed")
    if not is_int_value(seed):
        problems.append(f"seed={seed!r} must be an integer (it names the run and seeds every random stream), "
                        "e.g. seed=1")
    model, data = _sel(cfg, "model", {}) or {}, _sel(cfg, "data", {}) or {}
    if backend == "embedded":
        if model.get("hf_id"):
            problems.append(f"model={model.get('name')} ({model['hf_id']}) is trained only by backend=verl (GPUs); "
                            "the embedded CPU backend trains model=tiny. Add backend=verl, or drop model=")
        if data.get("name") not in BACKEND_DATA["embedded"]:
            problems.append(f"data={data.get('name')} is trained only by backend=verl; the embedded backend trains "
                            "the synthetic task data=synth. Add backend=verl, or drop data=")
        problems += _check_train(_sel(cfg, "train", {}) or {})
        problems += _check_eval(_sel(cfg, "eval", {}) or {})
    if problems:
        raise UserError("; ".join(problems))


def _finite_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_train(train: dict) -> list[str]:
    p = []
    if "grad_clip" in train:
        g = train["grad_clip"]
        if not (_finite_number(g) and g > 0):
            p.append(f"train.grad_clip={g!r} must be a finite number > 0 (the max gradient norm: a negative one "
                     "flips the gradient, 0 stops learning), e.g. train.grad_clip=1.0")
    if "lr" in train and not _finite_number(train["lr"]):
        p.append(f"train.lr={train['lr']!r} must be a finite number")
    if "weight_decay" in train and not (_finite_number(train["weight_decay"]) and train["weight_decay"] >= 0):
        p.append(f"train.weight_decay={train['weight_decay']!r} must be a finite number >= 0 (AdamW's decoupled "
                 "weight decay), e.g. train.weight_decay=0.01")
    return p


def _check_eval(ev: dict) -> list[str]:
    p = []
    limit = ev.get("limit")
    if limit is not None and not (is_int_value(limit) and limit >= 1):
        p.append(f"eval.limit={limit!r} must be an integer >= 1 (the first problems of each benchmark) or null (all)")
    benches = ev.get("benchmarks")
    if not isinstance(benches, list) or not benches:
        p.append(f"eval.benchmarks={benches!r} must be a non-empty list of benchmark keys")
    else:
        from core.eval.benchmarks import benchmark_keys

        known = benchmark_keys()
        for b in benches:
            if b not in known:
                import difflib

                close = difflib.get_close_matches(str(b), known, n=1)
                p.append(f"eval.benchmarks: unknown benchmark {b!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                         + f"; valid: {', '.join(known)}")
    return p


def canonical_override(override: str) -> tuple[str, str] | None:
    """``(key, value)`` of a command-line override with the value as Hydra parses it (``1e-4`` and
    ``0.0001`` both give ``0.0001``; ``[1, 8]`` gives ``[1,8]``; quotes of a plain string are dropped),
    so a run's name does not depend on how a value was typed. None when Hydra cannot parse it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        ov = OverridesParser.create().parse_override(override)
    except Exception:  # noqa: BLE001 - Hydra itself reports the bad override
        return None
    key = ov.get_key_element().lstrip("+~")
    if ov.is_sweep_override():
        return key, ov.get_value_element_as_str()
    value = ov.value()
    return key, (value if isinstance(value, str) else ov.get_value_element_as_str())


def check_sweep_overrides(args: list[str]) -> None:
    """Refuse a ``-m`` grid that expands to no job (``seed='range(0,0)'``, an empty list)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for arg in args:
        if arg.startswith("-") or "=" not in arg:
            continue
        try:
            ov = parser.parse_override(arg)
        except Exception:  # noqa: BLE001 - Hydra reports it
            continue
        if ov.is_sweep_override() and not list(ov.sweep_string_iterator()):
            raise UserError(f"{arg} expands to no value: the sweep would launch 0 jobs. Give at least one value, "
                            f"e.g. {ov.get_key_element()}=range(0,3)")
