"""The grader registry and the math grader (math-verify).

The paper grades with OpenCompass's ``MATHEvaluator`` (last ``\\boxed{}``, then answer phrases);
we grade with math-verify (HuggingFace), the verifier verl and most RLVR work use, behind the same
"last box, then fallbacks" extraction (:mod:`core.eval.answers`). See ``docs/evaluation.md`` for
every rule and why.

Pipeline of :meth:`MathVerifyGrader.grade`::

    response --extract_answer--> answer (str | None) --normalize_answer--> math-verify parse
    gold ------------------------------------------------normalize_answer--> math-verify parse
                                                                             verify(gold, answer)

Nothing here raises on model output: an empty response, no box, an unbalanced box, an enormous
number or a parse/verify timeout all grade as incorrect.

Timeouts. math-verify bounds each ``parse`` and ``verify`` call with ``signal.alarm``, which only
works in the main thread. :class:`MathVerifyGrader` uses it there; called from any other thread
it hands the (answer, gold) pairs to a worker process of :class:`core.eval.pool.DeadlinePool`
(whose tasks run in the worker's main thread, where signals work) and waits at most
``3 * timeout_s + SLACK_S`` seconds per pair, after which the worker is killed and replaced and the
pair graded incorrect. :meth:`MathVerifyGrader.grade_many` can also spread a batch over several
such workers.

Owns the grader registry (``register_grader``, ``get_grader``) and the math grader; exports the
extraction of :mod:`core.eval.answers` it grades with. May import :mod:`core.eval.answers`,
:mod:`core.eval.pool`, cachetools, and math-verify and sympy (lazily). No torch import here:
this module must stay light (analysis and tests import it).
"""

from __future__ import annotations

import atexit
import difflib
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cachetools import LRUCache, cached

from core.eval.answers import MAX_ANSWER_CHARS, extract_answer, normalize_answer
from core.eval.pool import DeadlinePool

__all__ = [
    "Grade",
    "Grader",
    "MathVerifyGrader",
    "MAX_ANSWER_CHARS",
    "extract_answer",
    "get_grader",
    "grade_all",
    "grader_names",
    "normalize_answer",
    "register_grader",
]


@dataclass(frozen=True)
class Grade:
    """The verdict on one response."""

    correct: bool
    answer: str | None  # the extracted answer (None when none could be extracted)


@runtime_checkable
class Grader(Protocol):
    """Grades a model response against a gold answer. Must never raise on model output."""

    name: str

    def grade(self, response: str, gold: str) -> Grade: ...


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------

_GRADER_FACTORIES: dict[str, Callable[[], Grader]] = {}
_GRADER_INSTANCES: dict[str, Grader] = {}
_REGISTRY_LOCK = threading.Lock()


def _unknown(kind: str, name: str, valid: Sequence[str]) -> KeyError:
    """The registry error: the valid names and a did-you-mean suggestion."""
    close = difflib.get_close_matches(name, list(valid), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return KeyError(f"unknown {kind} {name!r}.{hint} Available: {', '.join(sorted(valid))}")


def register_grader(name: str, factory: Callable[[], Grader]) -> None:
    """Register a grader factory under ``name`` (a duplicate name raises)."""
    with _REGISTRY_LOCK:
        if name in _GRADER_FACTORIES:
            raise ValueError(f"grader {name!r} is already registered")
        _GRADER_FACTORIES[name] = factory


def grader_names() -> list[str]:
    return sorted(_GRADER_FACTORIES)


def get_grader(name: str) -> Grader:
    """The grader registered as ``name``; one shared instance per name, so its cache is shared."""
    with _REGISTRY_LOCK:
        if name not in _GRADER_INSTANCES:
            if name not in _GRADER_FACTORIES:
                raise _unknown("grader", name, list(_GRADER_FACTORIES))
            _GRADER_INSTANCES[name] = _GRADER_FACTORIES[name]()
        return _GRADER_INSTANCES[name]


# ---------------------------------------------------------------------------------------------
# math-verify
# ---------------------------------------------------------------------------------------------


def _parse(latex: str, timeout_s: int | None) -> list:
    from math_verify import parse

    if not latex:
        return []
    try:
        return parse(f"$\\boxed{{{latex}}}$", parsing_timeout=timeout_s)
    except BaseException as exc:  # noqa: BLE001 - garbage in, incorrect out (but not Ctrl-C)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return []


@cached(LRUCache(8192), key=lambda latex, timeout_s: latex, lock=threading.Lock())
def _parsed(latex: str, timeout_s: int | None) -> list:
    """math-verify's parse of ``latex`` (cached per normalised answer or gold: a gold is graded n
    times per evaluation, and a common wrong answer comes back across problems)."""
    return _parse(latex, timeout_s)


def _verify_normalized(answer: str, gold: str, timeout_s: int | None) -> bool:
    """math-verify on normalised strings. Only call with signals available or timeout_s=None."""
    from math_verify import verify
    from math_verify.utils import timeout

    if len(answer) > MAX_ANSWER_CHARS:
        return False
    gold_parsed = _parsed(gold, timeout_s)
    answer_parsed = _parsed(answer, timeout_s)
    if not gold_parsed or not answer_parsed:
        return False
    try:
        if not verify(gold_parsed, answer_parsed, timeout_seconds=timeout_s):
            return False
        return not timeout(timeout_s)(_small_numbers_differ)(gold_parsed[0], answer_parsed[0])
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return False


SMALL_NUMBER = 1e-3
"""Below this size math-verify's absolute rounding (6 decimals) keeps fewer than 4 significant
digits (and equates 2.88e-19 with 1.325e-27, or with 0), so such numbers are compared relatively."""
SMALL_NUMBER_REL_TOL = 1e-6


def _small_numbers_differ(gold, pred) -> bool:
    """True if gold and prediction are numbers below :data:`SMALL_NUMBER` in size that differ
    by more than :data:`SMALL_NUMBER_REL_TOL` relatively (math-verify said equal: rounding)."""
    import sympy

    if not (isinstance(gold, sympy.Basic) and isinstance(pred, sympy.Basic)):
        return False
    if not (gold.is_number and pred.is_number):
        return False
    try:
        a, b = complex(gold.evalf(30)), complex(pred.evalf(30))
    except (TypeError, ValueError, ArithmeticError):
        return False
    scale = max(abs(a), abs(b))
    return 0 < scale < SMALL_NUMBER and abs(a - b) > SMALL_NUMBER_REL_TOL * scale


SLACK_S = 10.0
"""Seconds a worker process may take for one pair beyond the ``3 * timeout_s`` that parse + parse +
verify may take; past that it is killed (:mod:`core.eval.pool`) and the pair graded incorrect."""


def _worker_init() -> None:
    """Run once in each grading worker process: import math-verify, quiet its logger."""
    import logging

    import math_verify  # noqa: F401 - imported at start, not inside the first pair's deadline

    logging.getLogger("math_verify").setLevel(logging.ERROR)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class MathVerifyGrader:
    """Last-box extraction + math-verify, with a cache and a per-call timeout.

    Args:
        timeout_s: seconds for each math-verify ``parse`` and ``verify`` call (math-verify's own
            signal-based timeout, so one grade takes at most about ``3 * timeout_s``). A timeout
            grades as incorrect, and is cached as such.
        cache_size: entries of the (normalised answer, normalised gold) -> verdict cache.

    In the main thread grading runs in-process. In any other thread it runs in a persistent
    worker process (:class:`core.eval.pool.DeadlinePool`, started on first use, about 1-2 s),
    where the signal timeout works, with an outer deadline of ``3 * timeout_s + SLACK_S`` s after
    which the worker is killed and replaced.
    """

    name = "math_verify"

    def __init__(self, timeout_s: int = 5, cache_size: int = 1 << 17):
        if int(timeout_s) != timeout_s or timeout_s < 1:
            raise ValueError(f"timeout_s must be an integer >= 1 (signal.alarm), got {timeout_s}")
        self.timeout_s = int(timeout_s)
        self._cache: LRUCache = LRUCache(cache_size)
        self._cache_lock = threading.Lock()
        self._hits = self._misses = 0
        self._pool: DeadlinePool | None = None
        self._pool_lock = threading.Lock()  # one batch at a time uses the pool
        self._atexit = False

    # -- public ----------------------------------------------------------------------------
    def grade(self, response: str, gold: str) -> Grade:
        return self.grade_many([response], [gold])[0]

    def grade_many(self, responses: Sequence[str], golds: Sequence[str], workers: int = 1) -> list[Grade]:
        """Grade ``responses[i]`` against ``golds[i]``, with the same verdicts as :meth:`grade`.

        With ``workers > 1`` the distinct uncached (answer, gold) pairs are spread over that many
        worker processes (kept for later calls with the same ``workers`` until :meth:`close`);
        worth it from a few hundred pairs. Otherwise they are verified in-process (main thread)
        or in one worker.
        """
        if len(responses) != len(golds):
            raise ValueError(f"{len(responses)} responses but {len(golds)} golds")
        answers = [extract_answer(r) for r in responses]
        keys = [None if a is None else self._key(a, str(g)) for a, g in zip(answers, golds)]
        verdicts: dict[tuple[str, str], bool] = {}
        todo = []
        for key in dict.fromkeys(k for k in keys if k is not None):
            cached_verdict = self._cache_get(key)
            if cached_verdict is not None:
                verdicts[key] = cached_verdict
            elif len(key[0]) > MAX_ANSWER_CHARS:
                verdicts[key] = False
            else:
                todo.append(key)
        for key, verdict in zip(todo, self._verify_pairs(todo, workers)):
            with self._cache_lock:
                self._cache[key] = verdict
            verdicts[key] = verdict
        return [
            Grade(False, None) if key is None else Grade(verdicts[key], _stored(answer))
            for answer, key in zip(answers, keys)
        ]

    def cache_info(self) -> dict[str, int]:
        return {"hits": self._hits, "misses": self._misses, "size": len(self._cache)}

    def cache_clear(self) -> None:
        with self._cache_lock:
            self._cache.clear()
            self._hits = self._misses = 0
        _parsed.cache_clear()

    def close(self) -> None:
        """Stop the worker processes, if any were started (also run at exit)."""
        with self._pool_lock:
            self._close_pool()

    # -- internals ---------------------------------------------------------------------------
    @staticmethod
    def _key(answer: str, gold: str) -> tuple[str, str]:
        return normalize_answer(answer), normalize_answer(gold)

    def _cache_get(self, key: tuple[str, str]) -> bool | None:
        with self._cache_lock:
            verdict = self._cache.get(key)
            if verdict is None:
                self._misses += 1
            else:
                self._hits += 1
            return verdict

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _verify_pairs(self, pairs: list[tuple[str, str]], workers: int) -> list[bool]:
        if not pairs:
            return []
        if workers <= 1 and _in_main_thread():
            return [_verify_normalized(a, g, self.timeout_s) for a, g in pairs]
        size = max(1, workers)
        with self._pool_lock:
            try:
                if self._pool is not None and self._pool.workers != size:
                    self._close_pool()
                if self._pool is None:
                    if not self._atexit:
                        atexit.register(self.close)
                        self._atexit = True
                    self._pool = DeadlinePool(size, initializer=_worker_init)
                verdicts = self._pool.run(_verify_normalized, [(a, g, self.timeout_s) for a, g in pairs],
                                          deadline_s=3 * self.timeout_s + SLACK_S)
                return [v is True for v in verdicts]  # None: killed at the deadline or died
            except (OSError, RuntimeError) as exc:  # no worker process possible here
                self._close_pool()
                warnings.warn(f"math-verify grading workers unavailable ({exc}); grading in-process", stacklevel=2)
        timeout_s = self.timeout_s if _in_main_thread() else None  # signals: main thread only
        return [_verify_normalized(a, g, timeout_s) for a, g in pairs]


def grade_all(grader: Grader, responses: Sequence[str], golds: Sequence[str], workers: int = 1) -> list[Grade]:
    """Grade a batch with any grader: ``grader.grade_many`` when it has one (math-verify: cache
    look-ups once, ``workers`` subprocesses), else ``grade`` one by one."""
    if len(responses) != len(golds):
        raise ValueError(f"{len(responses)} responses but {len(golds)} golds")
    grade_many = getattr(grader, "grade_many", None)
    if grade_many is not None:
        return grade_many(responses, golds, workers=workers)
    return [grader.grade(r, g) for r, g in zip(responses, golds)]


def _stored(answer: str) -> str:
    return answer if len(answer) <= MAX_ANSWER_CHARS else answer[:MAX_ANSWER_CHARS]


register_grader("math_verify", MathVerifyGrader)
