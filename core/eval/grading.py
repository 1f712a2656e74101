"""Answer extraction and grading (math-verify), with a grader registry.

The paper grades with OpenCompass's ``MATHEvaluator`` (last ``\\boxed{}``, then answer phrases);
we grade with math-verify (HuggingFace), the verifier verl and most RLVR work use, behind the same
"last box, then fallbacks" extraction. See ``docs/evaluation.md`` for every rule and why.

Pipeline of :meth:`MathVerifyGrader.grade`::

    response --extract_answer--> answer (str | None) --normalize_answer--> math-verify parse
    gold ------------------------------------------------normalize_answer--> math-verify parse
                                                                             verify(gold, answer)

Nothing here raises on model output: an empty response, no box, an unbalanced box, an enormous
number or a parse/verify timeout all grade as incorrect.

Timeouts. math-verify bounds each ``parse`` and ``verify`` call with ``signal.alarm``, which only
works in the main thread. :class:`MathVerifyGrader` uses it there; called from any other thread
it hands the (answer, gold) pair to a worker subprocess (``python -m core.eval.grading --worker``,
whose main thread can use signals) and waits at most ``3 * timeout_s + 10`` seconds, killing and
restarting the worker if it hangs. :meth:`MathVerifyGrader.grade_many` can also spread a batch
over several such workers.

No torch import here: this module must stay light (analysis and tests import it).
"""

from __future__ import annotations

import atexit
import difflib
import json
import os
import re
import select
import subprocess
import sys
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

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

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MAX_ANSWER_CHARS = 1000
"""An extracted answer longer than this is graded incorrect without parsing (and stored cut to
this length). The longest gold of the six benchmarks has 210 characters (a Minerva formula)."""


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
# Extraction
# ---------------------------------------------------------------------------------------------

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
# "The final answer is $70$.", "Answer: 70", "the answer is \(70\)": the last such phrase wins.
_PHRASE_RE = re.compile(r"(?:final\s+answer|answer)\s*(?:is|:|=)\s*:?\s*([^\n]+)", re.IGNORECASE)
_SENTENCE_END_RE = re.compile(r"\.(?:\s|$)")
_WRAPPERS = (("\\(", "\\)"), ("\\[", "\\]"), ("$$", "$$"), ("$", "$"), ("**", "**"))


def _braced(text: str, start: int) -> str | None:
    """Content of the brace group opening at ``text[start] == '{'``; None if it never closes.

    Escaped braces (``\\{``, ``\\}``) are literal characters and do not count.
    """
    depth = 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
        i += 1
    return None


def _last_box(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` (or ``\\boxed 5``); None if absent
    or if the last box is unbalanced (a response cut off inside its final box)."""
    matches = list(_BOX_RE.finditer(text))
    if not matches:
        return None
    end = matches[-1].end()
    rest = text[end:]
    stripped = rest.lstrip()
    if stripped.startswith("{"):
        return _braced(text, end + len(rest) - len(stripped))
    if rest[:1].isspace():  # "\boxed 5$": one token up to whitespace or "$"
        token = re.match(r"[^\s$]+", stripped)
        return token.group(0) if token else None
    return None


def _clean_phrase(answer: str) -> str:
    """Trim what follows an answer phrase: the first sentence, without wrappers."""
    answer = answer.strip()
    end = _SENTENCE_END_RE.search(answer)
    if end:
        answer = answer[: end.start()]
    answer = answer.strip().rstrip(".,;").strip().strip("*").strip()
    changed = True
    while changed:
        changed = False
        for left, right in _WRAPPERS:
            if len(answer) >= len(left) + len(right) and answer.startswith(left) and answer.endswith(right):
                answer = answer[len(left) : len(answer) - len(right)].strip()
                changed = True
    return answer


def extract_answer(text: str | None) -> str | None:
    """The final answer of a response, or None.

    1. The content of the last ``\\boxed{}`` (or ``\\fbox{}``), braces balanced.
    2. Otherwise the rest of the sentence after the last "final answer is", "answer is" or
       "Answer:", stripped of ``$``, ``\\(\\)``, ``\\[\\]`` and ``**`` wrappers.
    3. Otherwise None (the response is graded incorrect). There is deliberately no
       "last number in the text" fallback: a rambling or truncated response is not an answer.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    boxed = _last_box(text)
    if boxed is not None:
        boxed = boxed.strip()
        return boxed or None
    phrases = list(_PHRASE_RE.finditer(text))
    if phrases:
        answer = _clean_phrase(phrases[-1].group(1))
        return answer or None
    return None


# ---------------------------------------------------------------------------------------------
# Normalisation (applied to gold and prediction alike)
# ---------------------------------------------------------------------------------------------

# Python e-notation, "3.83e35" / "1e-5" / "2.7778E-6", not part of a word or a longer number.
_E_NOTATION_RE = re.compile(r"(?<![\w.\\])(\d+(?:\.\d*)?|\.\d+)[eE]([+-]?)(\d+)(?![\w.])")
_NUMPY_RE = re.compile(r"\bnp\.([A-Za-z]+)")  # np.arcsin(10/13) -> \arcsin(10/13)
_DOT_SLASH_RE = re.compile(r"(\d)\.(?=\s*/)")  # -1./3 -> -1/3
_PERCENT_RE = re.compile(r"\\?%")
_DOLLAR_RE = re.compile(r"(?<!\\)\$")  # math-mode $, not the currency sign \$


def _e_notation(match: re.Match) -> str:
    mantissa, sign, exponent = match.groups()
    exponent = exponent.lstrip("0") or "0"
    return f"{mantissa}\\times 10^{{{'-' if sign == '-' else ''}{exponent}}}"


def normalize_answer(answer: str) -> str:
    """Rewrite forms math-verify misreads, on gold and prediction alike.

    - Python e-notation (58 Minerva golds): math-verify reads ``3.83e35`` as 3.83*E*35 (Euler's
      number), so ``XeY`` becomes ``X\\times 10^{Y}``.
    - numpy names and ``1./3`` (3 Minerva golds): ``np.arcsin`` -> ``\\arcsin``, ``-1./3`` -> ``-1/3``.
    - math-mode ``$`` signs are dropped (OlympiadBench golds are ``$...$``-wrapped); the
      currency sign ``\$`` stays (math-verify reads ``\$18.90`` as 18.90).
    - percent signs are dropped, as OpenCompass and the Qwen2.5-Math harness do: math-verify
      cannot parse ``\boxed{10\%}`` at all, and MATH500 answers "By what percent ...?" with
      ``10``. So ``10\%`` equals ``10`` (and not ``0.1``).
    """
    answer = _PERCENT_RE.sub("", _DOLLAR_RE.sub("", answer)).strip()
    answer = _NUMPY_RE.sub(r"\\\1", answer)
    answer = _DOT_SLASH_RE.sub(r"\1", answer)
    return _E_NOTATION_RE.sub(_e_notation, answer)


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


class _LRU:
    """A small thread-safe LRU map."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key):
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
            self.misses += 1
            return None

    def put(self, key, value) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0


_PARSES = _LRU(8192)  # normalised answer or gold -> math-verify parse


def _parsed(latex: str, timeout_s: int | None) -> list:
    """math-verify's parse of ``latex`` (cached: a gold is graded n times per evaluation, and a
    common wrong answer comes back across problems)."""
    parsed = _PARSES.get(latex)
    if parsed is None:
        parsed = _parse(latex, timeout_s)
        _PARSES.put(latex, parsed)
    return parsed


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


class _Worker:
    """A grading subprocess (``python -m core.eval.grading --worker``) verifying pairs in order.

    A subprocess rather than multiprocessing: it works from any thread, never re-imports the
    caller's ``__main__`` (spawn does), and its main thread can use math-verify's signal timeout.
    Protocol: the worker prints ``ready`` once imported; then for each JSON line
    ``[answer, gold, timeout_s]`` in, one line ``1`` or ``0`` out, in order.
    """

    COMMAND = (sys.executable, "-m", "core.eval.grading", "--worker")
    STARTUP_S = 60.0  # extra time before the first answer: importing sympy + math-verify
    SLACK_S = 10.0  # beyond the 3 * timeout_s that parse + parse + verify may take

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_REPO_ROOT, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            list(self.COMMAND),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self.fd = self.proc.stdout.fileno()
        self.ready = False
        self._buffer = b""

    def send(self, pair: tuple[str, str], timeout_s: int) -> None:
        """Queue one pair; its verdict comes back as one line, in order."""
        self.proc.stdin.write((json.dumps([pair[0], pair[1], timeout_s]) + "\n").encode())
        self.proc.stdin.flush()

    def read_lines(self) -> list[str] | None:
        """The complete lines now available (call when select says readable); None at EOF."""
        data = os.read(self.fd, 65536)
        if not data:
            return None
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        return [line.decode().strip() for line in lines]

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


def _serve_worker() -> None:
    """The worker's loop (``python -m core.eval.grading --worker``); exits when stdin closes."""
    import logging

    import math_verify  # noqa: F401 - import before saying ready

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    protocol, sys.stdout = sys.stdout, sys.stderr  # stray prints must not break the protocol
    protocol.write("ready\n")
    protocol.flush()
    for line in sys.stdin:
        answer, gold, timeout_s = json.loads(line)
        protocol.write("1\n" if _verify_normalized(answer, gold, timeout_s) else "0\n")
        protocol.flush()


def _run_in_workers(pairs: Sequence[tuple[str, str]], workers: list[_Worker], timeout_s: int) -> list[bool]:
    """Verify ``pairs`` on ``workers``, up to :data:`_PIPELINE` pairs queued per worker (answers
    come back in order, so a worker never waits for the parent to be scheduled).

    A worker that dies or hangs past its deadline while on a pair is killed and replaced (in
    place in ``workers``); that pair grades as incorrect and the pairs queued behind it are
    retried. A worker that dies before saying ``ready`` is replaced and its pairs retried; after
    3 such deaths this raises RuntimeError (workers cannot start here).
    """
    results: list[bool] = [False] * len(pairs)
    todo = list(range(len(pairs)))[::-1]  # pop() from the end: in order
    queued: list[list[int]] = [[] for _ in workers]  # per worker slot: pair indices sent, in order
    deadline: list[float] = [0.0] * len(workers)  # for the head of queued[slot]
    stillborn = 0

    def replace(slot: int, head_failed: bool) -> None:
        nonlocal stillborn
        if not workers[slot].ready:
            stillborn += 1
            if stillborn > 3:
                raise RuntimeError("math-verify grading workers die before starting")
            head_failed = False  # it never started: not the pair's fault
        pending = queued[slot][1:] if head_failed else queued[slot]
        todo.extend(reversed(pending))  # retried first
        queued[slot] = []
        workers[slot].kill()
        workers[slot] = _Worker()

    def limit(slot: int) -> float:
        startup = 0.0 if workers[slot].ready else _Worker.STARTUP_S
        return time.monotonic() + 3 * timeout_s + _Worker.SLACK_S + startup

    while todo or any(queued):
        for slot, worker in enumerate(workers):
            while todo and len(queued[slot]) < _PIPELINE:
                idx = todo.pop()
                try:
                    worker.send(pairs[idx], timeout_s)
                except OSError:  # died: replace it, retry its pairs
                    todo.append(idx)
                    replace(slot, head_failed=False)
                    break
                if not queued[slot]:
                    deadline[slot] = limit(slot)
                queued[slot].append(idx)
        busy = [slot for slot in range(len(workers)) if queued[slot]]
        if not busy:
            continue
        by_fd = {workers[slot].fd: slot for slot in busy}
        wait = max(0.0, min(deadline[slot] for slot in busy) - time.monotonic())
        readable, _, _ = select.select(list(by_fd), [], [], wait)
        for fd in readable:
            slot = by_fd[fd]
            worker = workers[slot]
            lines = worker.read_lines()
            if lines is None:  # died: the head pair killed it (e.g. out of memory) unless never ready
                replace(slot, head_failed=True)
                continue
            for line in lines:
                if line == "ready":
                    worker.ready = True
                elif queued[slot]:
                    results[queued[slot].pop(0)] = line == "1"
                    deadline[slot] = limit(slot)
        now = time.monotonic()
        for slot in busy:
            if queued[slot] and now > deadline[slot]:  # hung, e.g. in C code the alarm cannot stop
                replace(slot, head_failed=True)
    return results


_PIPELINE = 8  # pairs queued per worker; at most ~1.3 kB each, far below a pipe's 64 kB buffer


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class MathVerifyGrader:
    """Last-box extraction + math-verify, with a cache and a per-call timeout.

    Args:
        timeout_s: seconds for each math-verify ``parse`` and ``verify`` call (math-verify's own
            signal-based timeout, so one grade takes at most about ``3 * timeout_s``). A timeout
            grades as incorrect, and is cached as such.
        cache_size: entries of the (normalised answer, normalised gold) -> verdict cache.

    In the main thread grading runs in-process. In any other thread it runs in one persistent
    worker subprocess (started on first use, about 1-2 s), where the signal timeout works, with
    an outer deadline of ``3 * timeout_s + 10`` s after which the worker is killed and restarted.
    """

    name = "math_verify"

    def __init__(self, timeout_s: int = 5, cache_size: int = 1 << 17):
        if int(timeout_s) != timeout_s or timeout_s < 1:
            raise ValueError(f"timeout_s must be an integer >= 1 (signal.alarm), got {timeout_s}")
        self.timeout_s = int(timeout_s)
        self._cache = _LRU(cache_size)
        self._workers: list[_Worker] = []
        self._workers_lock = threading.Lock()  # one batch at a time uses the workers

    # -- public ----------------------------------------------------------------------------
    def grade(self, response: str, gold: str) -> Grade:
        return self.grade_many([response], [gold])[0]

    def grade_many(self, responses: Sequence[str], golds: Sequence[str], workers: int = 1) -> list[Grade]:
        """Grade ``responses[i]`` against ``golds[i]``, with the same verdicts as :meth:`grade`.

        With ``workers > 1`` the distinct uncached (answer, gold) pairs are spread over that many
        worker subprocesses (kept for later calls until :meth:`close`); worth it from a few
        hundred pairs. Otherwise they are verified in-process (main thread) or in one worker.
        """
        if len(responses) != len(golds):
            raise ValueError(f"{len(responses)} responses but {len(golds)} golds")
        answers = [extract_answer(r) for r in responses]
        keys = [None if a is None else self._key(a, str(g)) for a, g in zip(answers, golds)]
        verdicts: dict[tuple[str, str], bool] = {}
        todo = []
        for key in dict.fromkeys(k for k in keys if k is not None):
            cached = self._cache.get(key)
            if cached is not None:
                verdicts[key] = cached
            elif len(key[0]) > MAX_ANSWER_CHARS:
                verdicts[key] = False
            else:
                todo.append(key)
        for key, verdict in zip(todo, self._verify_pairs(todo, workers)):
            self._cache.put(key, verdict)
            verdicts[key] = verdict
        return [
            Grade(False, None) if key is None else Grade(verdicts[key], _stored(answer))
            for answer, key in zip(answers, keys)
        ]

    def cache_info(self) -> dict[str, int]:
        return {"hits": self._cache.hits, "misses": self._cache.misses, "size": len(self._cache)}

    def cache_clear(self) -> None:
        self._cache.clear()
        _PARSES.clear()

    def close(self) -> None:
        """Stop the worker subprocesses, if any were started (also run at exit)."""
        with self._workers_lock:
            for worker in self._workers:
                worker.kill()
            self._workers = []

    # -- internals ---------------------------------------------------------------------------
    @staticmethod
    def _key(answer: str, gold: str) -> tuple[str, str]:
        return normalize_answer(answer), normalize_answer(gold)

    def _verify_pairs(self, pairs: list[tuple[str, str]], workers: int) -> list[bool]:
        if not pairs:
            return []
        if workers <= 1 and _in_main_thread():
            return [_verify_normalized(a, g, self.timeout_s) for a, g in pairs]
        wanted = max(1, min(workers, len(pairs)))
        with self._workers_lock:
            try:
                if not self._workers:
                    atexit.register(self.close)
                while len(self._workers) < wanted:
                    self._workers.append(_Worker())
                active = self._workers[:wanted]
                verdicts = _run_in_workers(pairs, active, self.timeout_s)
                self._workers[:wanted] = active  # dead workers were replaced
                return verdicts
            except (OSError, RuntimeError) as exc:  # no subprocess possible here
                for worker in self._workers:
                    worker.kill()
                self._workers = []
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


if __name__ == "__main__" and sys.argv[1:] == ["--worker"]:
    _serve_worker()
