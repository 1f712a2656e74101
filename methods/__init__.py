"""Entropy-control loss methods: the ``LossMethod`` interface, a strict registry, one file per method.

Importing this package registers the built-in methods. A new baseline is one file that subclasses
:class:`methods.base.LossMethod` and decorates it with :func:`methods.registry.register` (see
docs/methods.md, "Adding a method").
"""

from methods.base import ConfigError, LossMethod, LossOutput, MethodParams, PolicyBatch, hp
from methods.registry import REGISTRY, build_method, describe, get_method_cls, method_names, register, unregister


def _import_all_methods() -> None:
    """Import every module of this package, so a new method file registers itself (no list to edit)."""
    import importlib
    import pkgutil

    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if mod not in {"base", "registry", "common", "__main__"}:
            importlib.import_module(f"{__name__}.{mod}")


_import_all_methods()

__all__ = ["ConfigError", "LossMethod", "LossOutput", "MethodParams", "PolicyBatch", "hp", "REGISTRY",
           "build_method", "describe", "get_method_cls", "method_names", "register", "unregister"]
