"""The method registry: strict (a duplicate name raises, an unknown name lists the valid ones)."""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Mapping

from methods.base import ConfigError, LossMethod, MethodParams

__all__ = ["register", "unregister", "get_method_cls", "build_method", "method_names", "describe", "REGISTRY"]

REGISTRY: dict[str, type[LossMethod]] = {}


def register(cls: type[LossMethod]) -> type[LossMethod]:
    """Class decorator: add a :class:`LossMethod` subclass under ``cls.name``."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{cls.__name__} must set a non-empty class attribute `name`")
    if name in REGISTRY:
        raise ConfigError(f"method {name!r} is already registered by {REGISTRY[name].__module__}."
                          f"{REGISTRY[name].__name__}; pick another name")
    params_cls = getattr(cls, "params_cls", None)
    if not (isinstance(params_cls, type) and issubclass(params_cls, MethodParams)):
        raise ConfigError(f"{cls.__name__}.params_cls must be a MethodParams dataclass")
    for f in dataclasses.fields(params_cls):
        if f.default is dataclasses.MISSING or "source" not in f.metadata:
            raise ConfigError(f"{params_cls.__name__}.{f.name} needs a default and a source: declare it with hp()")
    REGISTRY[name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove a method (for tests that register throwaway methods)."""
    REGISTRY.pop(name, None)


def method_names() -> list[str]:
    return sorted(REGISTRY)


def get_method_cls(name: str) -> type[LossMethod]:
    try:
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown method {name!r}.{hint} Valid methods: {', '.join(method_names())}") from None


def build_method(name: str, params: Mapping[str, Any] | None = None) -> LossMethod:
    """Instantiate a method with its paper defaults overridden by ``params`` (validated)."""
    return get_method_cls(name)(**dict(params or {}))


def describe(name: str) -> list[dict[str, Any]]:
    """Rows (field, default, source, doc) for one method's hyperparameters."""
    cls = get_method_cls(name)
    return [{"field": f.name, "default": f.default, "source": f.metadata["source"], "doc": f.metadata["doc"]}
            for f in dataclasses.fields(cls.params_cls)]
