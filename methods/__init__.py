"""Entropy-control loss methods: the ``LossMethod`` interface, a strict registry, one file per method.

Importing this package registers the built-in methods. A new baseline is one file that subclasses
:class:`methods.base.LossMethod` and decorates it with :func:`methods.registry.register` (see
docs/methods.md, "Adding a method").
"""

from methods.base import ConfigError, LossMethod, LossOutput, MethodParams, PolicyBatch, hp
from methods.registry import REGISTRY, build_method, describe, get_method_cls, method_names, register, unregister

# built-in methods (import order = listing order is irrelevant; the registry sorts)
from methods import grpo, en, adv, mask, clip, cov, high_en, sent, sent_released, low  # noqa: E402,F401

__all__ = ["ConfigError", "LossMethod", "LossOutput", "MethodParams", "PolicyBatch", "hp", "REGISTRY",
           "build_method", "describe", "get_method_cls", "method_names", "register", "unregister"]
