"""One registry of table and figure builders; ``python -m analysis`` runs them all.

A builder is ``make(runs: Runs) -> TableResult | FigureResult | ClaimsResult`` (kind ``table``,
``figure`` or ``report``: a report's files go to the top of the output folder). It raises ``MissingInputs`` with the
reason when the runs it needs are not there; it never draws an empty figure or a faked table. A builder
that only applies to some runs (``embedded_heldout``) raises ``NotApplicable`` when it does not apply:
it is then left out of the outputs altogether.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass


class MissingInputs(Exception):
    """The runs (or log files) a builder needs are not in the runs directory."""


class NotApplicable(MissingInputs):
    """The runs hold nothing the builder is about (e.g. no benchmark outside the paper's): unlike a
    missing table, it gets no files and no entry in ``index.md`` / ``summary.md``."""


@dataclass(frozen=True)
class Builder:
    name: str
    kind: str  # "table", "figure" or "report"
    make: Callable
    how: str  # one line: what it shows and how it is computed (goes into the index)


REGISTRY: dict[str, Builder] = {}


def register(name: str, kind: str, how: str):
    if kind not in ("table", "figure", "report"):
        raise ValueError(f"kind must be 'table', 'figure' or 'report', got {kind!r}")

    def deco(fn):
        if name in REGISTRY:
            raise ValueError(f"builder {name!r} is already registered ({REGISTRY[name].make.__module__})")
        REGISTRY[name] = Builder(name, kind, fn, how)
        return fn

    return deco


def get(name: str) -> Builder:
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, list(REGISTRY), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"no table or figure named {name!r}.{hint} Available: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def builders(kind: str | None = None) -> list[Builder]:
    return [b for b in REGISTRY.values() if kind is None or b.kind == kind]
