"""Evaluation benchmarks (and the training set) by key, with a registry.

The six paper benchmarks and DAPO-Math-17k ship under the repository's ``data/`` folder (see
``data/PROVENANCE.md``); each is loaded from its ``*.normalized.jsonl`` file, whose rows are
``{"id", "problem", "answer", "source"}``. Other engineers register more benchmarks (the embedded
CPU twins ``synth_1`` .. ``synth_6``) with :func:`register_benchmark`; the modules that do are
listed in :data:`core.plugins.EVAL_PLUGINS` and imported the first time a key is not found.

May import: ``core.eval.grading`` and ``core.plugins`` (a list of module names). No torch import
here (tests and analysis import this module).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.eval.grading import Grader, _unknown, get_grader
from core.plugins import EVAL_PLUGINS

__all__ = [
    "DATA_DIR",
    "PAPER_BENCHMARKS",
    "Problem",
    "benchmark_keys",
    "benchmark_size",
    "grader_for",
    "load_benchmark",
    "load_jsonl_problems",
    "prompt_builder",
    "register_benchmark",
]

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
"""The repository's ``data/`` folder, resolved from this file so any working directory works."""

PAPER_BENCHMARKS = ("aime24", "aime25", "amc23", "math500", "olympiadbench", "minerva")


@dataclass(frozen=True)
class Problem:
    """One benchmark problem. ``answer`` is the gold answer string, as the source gives it."""

    id: str
    question: str
    answer: str
    source: str


@dataclass(frozen=True)
class _Entry:
    loader: Callable[[], list[Problem]]
    grader: str
    size: int | None
    prompt: Callable | None = None


_REGISTRY: dict[str, _Entry] = {}
_LOADED: dict[str, tuple[Problem, ...]] = {}


def register_benchmark(
    key: str, loader: Callable[[], list[Problem]], *, grader: str = "math_verify", size: int | None = None,
    prompt: Callable | None = None,
) -> None:
    """Register a benchmark.

    Args:
        key: the benchmark key (``samples/<key>.jsonl`` in run logs). A duplicate raises.
        loader: returns the problems, in a fixed order; called once, on first load.
        grader: name of the grader (``core.eval.grading.get_grader``) that judges its answers.
        size: the expected number of problems; loading checks it when given.
        prompt: ``(question, tokenizer) -> prompt text`` for this benchmark; default (None): the
            paper's math prompt, ``core.eval.prompts.build_prompt`` (code benchmarks give their own).
    """
    if key in _REGISTRY:
        raise ValueError(f"benchmark {key!r} is already registered")
    _REGISTRY[key] = _Entry(loader, grader, size, prompt)


def _entry(key: str) -> _Entry:
    if key not in _REGISTRY:
        load_plugins()
    if key not in _REGISTRY:
        raise _unknown("benchmark", key, list(_REGISTRY))
    return _REGISTRY[key]


def load_plugins() -> None:
    """Import the modules of :data:`core.plugins.EVAL_PLUGINS` that exist (they register on import)."""
    for name in EVAL_PLUGINS:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise  # the plugin exists but one of its own imports is missing: say so


def benchmark_keys() -> list[str]:
    """Every registered key (the paper's six, ``dapo_math_17k`` and any plugin's)."""
    load_plugins()
    return sorted(_REGISTRY)


def benchmark_size(key: str) -> int | None:
    """The registered size of ``key`` (None if it was registered without one)."""
    return _entry(key).size


def load_benchmark(key: str) -> list[Problem]:
    """The problems of ``key``, in file order (a new list each call; problems are frozen)."""
    entry = _entry(key)
    if key not in _LOADED:
        problems = tuple(entry.loader())
        if entry.size is not None and len(problems) != entry.size:
            raise ValueError(f"benchmark {key!r}: loaded {len(problems)} problems, expected {entry.size}")
        ids = [p.id for p in problems]
        if len(set(ids)) != len(ids):
            raise ValueError(f"benchmark {key!r}: problem ids are not unique")
        _LOADED[key] = problems
    return list(_LOADED[key])


def prompt_builder(key: str) -> Callable:
    """``(question, tokenizer) -> prompt text`` of ``key``: its own, else ``core.eval.prompts.build_prompt``."""
    entry = _entry(key)
    if entry.prompt is not None:
        return entry.prompt
    from core.eval.prompts import build_prompt

    return build_prompt


def grader_for(key: str) -> Grader:
    """The grader that judges ``key``'s answers."""
    return get_grader(_entry(key).grader)


def load_jsonl_problems(path: str | Path, source: str) -> list[Problem]:
    """Problems from a normalised JSONL file with ``id``, ``problem`` and ``answer`` per line."""
    problems = []
    with open(path, "rb") as f:  # bytes: a bad line is reported with its file and line number
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                                 "re-save the file as UTF-8") from None
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: not a JSON line ({exc}); the file is truncated or damaged: "
                                 "restore it (data/PROVENANCE.md)") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            try:
                problems.append(Problem(str(row["id"]), row["problem"], str(row["answer"]), source))
            except KeyError as exc:
                raise ValueError(f"{path}:{lineno}: missing field {exc}") from None
    return problems


def _shipped(key: str, relpath: str) -> Callable[[], list[Problem]]:
    def load() -> list[Problem]:
        return load_jsonl_problems(DATA_DIR / relpath, key)

    load.__name__ = f"load_{key}"
    return load


# Sizes: PROVENANCE.md. OlympiadBench ships 675 problems; the paper says 674 (which one it dropped
# is unknown), so we keep all 675.
for _key, _size in (("aime24", 30), ("aime25", 30), ("amc23", 40), ("math500", 500),
                    ("olympiadbench", 675), ("minerva", 272)):  # fmt: skip
    register_benchmark(_key, _shipped(_key, f"{_key}/test.normalized.jsonl"), size=_size)
register_benchmark("dapo_math_17k", _shipped("dapo_math_17k", "dapo_math_17k/train.normalized.jsonl"), size=17290)
