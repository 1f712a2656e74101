"""The code grader (``get_grader("code")``): run a response's program against its tests.

Beside the math grader of :mod:`core.eval.grading`, behind the same ``Grader`` protocol:
``grade(response, gold) -> Grade(correct, answer)``, where

- ``response`` is the model's text: the *last* fenced code block is the program
  (:func:`extract_code`); no code block grades as incorrect;
- ``gold`` is the problem's test specification, a JSON string made by :func:`encode_tests`:
  ``{"fn_name": str | null, "tests": [{"input": str, "output": str, "testtype": "stdin" |
  "functional" | "check"}, ...]}`` (LiveCodeBench's released test format, plus HumanEval's check
  program as the kind ``check``);
- ``correct`` is true when every test passes; ``answer`` is the extracted program (cut to
  ``MAX_ANSWER_CHARS``), which is what the run-log records keep.

Each (program, tests) pair runs in its own sandbox process (:mod:`core.eval.sandbox`): a fresh
temporary working folder (removed afterwards), a new session whose whole process group is killed
when the per-problem wall-clock limit passes, memory / CPU / process / file-size limits, an empty
network namespace where the kernel allows it, and a per-test time limit. Grading never raises on
model output: no code block, a syntax error, a crash, a timeout, an infinite loop, a memory bomb or
a socket all grade as incorrect. What this does and does not protect against: ``docs/evaluation.md``.

:meth:`CodeGrader.grade_many` runs up to ``workers`` sandboxes at once (each is single-threaded),
default the CPUs this process may use, so a batch fills the machine without oversubscribing it.
Verdicts are cached by (program, tests) hash, so identical samples run once (``cachetools.LRUCache``).

May import: ``core.eval.grading`` and cachetools; verl's SandboxFusion client, lazily, when a
SandboxFusion URL is set.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from cachetools import LRUCache

from core.eval.grading import MAX_ANSWER_CHARS, Grade, register_grader

__all__ = [
    "CodeGrader",
    "SandboxLimits",
    "SandboxResult",
    "decode_tests",
    "encode_tests",
    "extract_code",
    "run_in_sandbox",
    "run_in_sandbox_fusion",
    "usable_cpus",
]

SANDBOX_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox.py")
TEST_KINDS = ("stdin", "functional", "check")

# ``` or ~~~ fences, optional language tag; the closing fence must match the opening one.
_FENCE_RE = re.compile(r"^[ \t]*(```|~~~)[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.MULTILINE | re.DOTALL)
_NON_PYTHON = {"bash", "sh", "shell", "console", "text", "txt", "plaintext", "json", "yaml", "c", "cpp", "c++",
               "java", "javascript", "js", "rust", "go", "output", "input"}


def extract_code(text: str | None) -> str | None:
    """The program in a response: the content of the last fenced code block (```` ``` ```` or
    ``~~~``, closed) whose language tag is empty or Python (``python``, ``py``, ``python3``); a
    block tagged as another language (``bash``, ``text``, ...) is skipped. None when there is
    none, or when it is blank. An unclosed last fence (a truncated response) is not a program."""
    if not isinstance(text, str) or not text:
        return None
    blocks = [m for m in _FENCE_RE.finditer(text) if m.group(2).lower() not in _NON_PYTHON]
    if not blocks:
        return None
    code = blocks[-1].group(3)
    return code if code.strip() else None


def encode_tests(tests: Sequence[dict], fn_name: str | None = None) -> str:
    """The gold string of a code problem (see the module docstring); validates every test."""
    clean = []
    for i, t in enumerate(tests):
        kind = t.get("testtype")
        if kind not in TEST_KINDS:
            raise ValueError(f"test {i}: testtype {kind!r} is not one of {TEST_KINDS}")
        if not isinstance(t.get("input"), str) or not isinstance(t.get("output"), str):
            raise ValueError(f"test {i}: input and output must be strings")
        if kind != "stdin" and not fn_name:
            raise ValueError(f"test {i}: a {kind!r} test needs the function name (fn_name)")
        clean.append({"input": t["input"], "output": t["output"], "testtype": kind})
    if not clean:
        raise ValueError("a code problem needs at least one test")
    return json.dumps({"fn_name": fn_name or None, "tests": clean}, ensure_ascii=False, sort_keys=True)


def decode_tests(gold: str) -> dict:
    """Inverse of :func:`encode_tests`."""
    spec = json.loads(gold)
    if not isinstance(spec, dict) or not isinstance(spec.get("tests"), list):
        raise ValueError("not a code-test specification (encode_tests)")
    return spec


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a SLURM allocation)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one sandbox run (one program against all tests of its problem).

    LiveCodeBench's own evaluation uses 6 s per test; its sandbox sets no memory limit.
    """

    per_test_s: float = 6.0
    """Wall-clock seconds per test (LiveCodeBench: 6)."""
    per_problem_s: float | None = None
    """Wall-clock seconds for the whole run, after which the process group is killed; default
    ``(per_test_s + 1) * n_tests + 5`` (LiveCodeBench's global timeout), capped at ``max_problem_s``."""
    max_problem_s: float = 300.0
    """Upper bound of the default per-problem limit."""
    memory_mb: int = 2048
    """Address-space limit of the sandbox process (RLIMIT_AS), MiB."""
    file_mb: int = 64
    """Largest file the program may write (RLIMIT_FSIZE), MiB."""
    isolate_network: bool = True
    """Run in a new, empty network namespace where the kernel allows it."""
    nproc_margin: int = 256
    """RLIMIT_NPROC = the user's processes and threads at start + this (not enforced for root)."""

    def problem_seconds(self, n_tests: int) -> float:
        if self.per_problem_s is not None:
            return float(self.per_problem_s)
        return min(self.max_problem_s, (self.per_test_s + 1) * max(1, n_tests) + 5)


@dataclass(frozen=True)
class SandboxResult:
    """What one sandbox run gave. ``status``: ``ok``, ``wrong_answer``, ``runtime_error``,
    ``compile_error``, ``timeout`` (a per-test limit), ``killed`` (the per-problem wall limit: the
    process group was killed), ``memory``, ``crashed`` (the sandbox died without a result, e.g. a
    segfault or a CPU-limit signal), ``bad_test``; ``network`` how the network was cut off."""

    passed: bool
    status: str
    detail: str = ""
    n_passed: int = 0
    n_tests: int = 0
    network: str = ""


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_in_sandbox(code: str, spec: dict, limits: SandboxLimits = SandboxLimits()) -> SandboxResult:
    """Run ``code`` against ``spec["tests"]`` in a sandbox process; never raises on the program."""
    tests = spec["tests"]
    wall = limits.problem_seconds(len(tests))
    nonce = "@@sandbox-" + secrets.token_hex(8) + "@@"
    job = {"code": code, "tests": tests, "fn_name": spec.get("fn_name"), "per_test_s": limits.per_test_s,
           "memory_mb": limits.memory_mb, "file_mb": limits.file_mb, "cpu_s": int(wall) + 1, "nonce": nonce,
           "isolate_network": limits.isolate_network, "nproc_margin": limits.nproc_margin}
    workdir = tempfile.mkdtemp(prefix="sent-code-")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
           "PYTHONHASHSEED": "0", "PYTHONIOENCODING": "utf-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    try:
        proc = subprocess.Popen([sys.executable, "-I", SANDBOX_SCRIPT], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=workdir, env=env,
                                start_new_session=True, close_fds=True)
    except OSError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        return SandboxResult(False, "crashed", f"could not start the sandbox: {exc}", 0, len(tests))
    try:
        try:
            out, _ = proc.communicate(json.dumps(job).encode("utf-8"), timeout=wall)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            return SandboxResult(False, "killed", f"ran past the {wall:g} s per-problem limit; process group "
                                                  "killed", 0, len(tests))
        finally:
            _kill_group(proc)  # anything the program left running in its group
        text = out.decode("utf-8", errors="replace")
        at = text.rfind(nonce)
        if at < 0:
            why = f"signal {-proc.returncode}" if proc.returncode and proc.returncode < 0 else f"exit {proc.returncode}"
            return SandboxResult(False, "crashed", f"the sandbox ended without a result ({why})", 0, len(tests))
        try:
            r = json.loads(text[at + len(nonce):].splitlines()[0])
            return SandboxResult(bool(r["passed"]), str(r["status"]), str(r["detail"]), int(r["n_passed"]),
                                 int(r["n_tests"]), str(r.get("network", "")))
        except (ValueError, KeyError, IndexError, TypeError):
            return SandboxResult(False, "crashed", "unreadable sandbox result", 0, len(tests))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


SANDBOX_FUSION_ENV = "SENT_SANDBOX_FUSION_URL"


def run_in_sandbox_fusion(code: str, spec: dict, url: str, limits: SandboxLimits = SandboxLimits()) -> SandboxResult:
    """Run ``code`` against ``spec``'s stdin/functional tests on a SandboxFusion service through verl
    0.9.1's client (``verl.utils.reward_score.sandbox_fusion.utils.check_correctness``: one request
    per test, ``per_test_s`` and ``memory_mb`` passed on). The service compares outputs its own way
    (stdout text; a functional result printed as JSON), not with LiveCodeBench's decimal rule.
    ``check`` tests (HumanEval) are not supported there. Never raises on the program."""
    tests = spec["tests"]
    if any(t["testtype"] == "check" for t in tests):
        return SandboxResult(False, "bad_test", "check tests (HumanEval) need the local sandbox", 0, len(tests))
    try:
        from verl.utils.reward_score.sandbox_fusion.utils import check_correctness

        in_outs = {"inputs": [t["input"] for t in tests], "outputs": [t["output"] for t in tests],
                   "fn_name": spec.get("fn_name")}
        results, _ = check_correctness(url, in_outs, code, timeout=int(max(1, limits.per_test_s)),
                                       memory_limit_mb=limits.memory_mb)
    except Exception as exc:  # noqa: BLE001 - client or service failure: incorrect, with the reason
        return SandboxResult(False, "crashed", f"SandboxFusion call failed: {type(exc).__name__}: {exc}", 0,
                             len(tests), "remote")
    passed = [r is True for r in results]
    n_passed = next((i for i, ok in enumerate(passed) if not ok), len(passed))
    if len(results) == len(tests) and all(passed):
        return SandboxResult(True, "ok", "", len(tests), len(tests), "remote")
    codes = {-1: "crashed", -2: "runtime_error", -3: "timeout", -4: "compile_error", False: "wrong_answer"}
    first = results[n_passed] if n_passed < len(results) else None
    return SandboxResult(False, codes.get(first, "wrong_answer"), f"SandboxFusion result {first!r} at test {n_passed}",
                         n_passed, len(tests), "remote")


class CodeGrader:
    """Last fenced code block, run against every test in a sandbox; correct when all pass.

    Args:
        limits: the sandbox limits (:class:`SandboxLimits`).
        workers: sandboxes run at once by :meth:`grade_many` when the caller asks for <= 1
            (default: :func:`usable_cpus`). A caller's ``workers > 1`` is used as given.
        cache_size: (program, tests) -> verdict entries kept.
        sandbox_fusion_url: run the programs on this SandboxFusion service instead of locally
            (:func:`run_in_sandbox_fusion`); default ``$SENT_SANDBOX_FUSION_URL`` (unset: local).
    """

    name = "code"

    def __init__(self, limits: SandboxLimits | None = None, workers: int | None = None, cache_size: int = 1 << 14,
                 sandbox_fusion_url: str | None = None):
        self.limits = limits or SandboxLimits()
        self.sandbox_fusion_url = sandbox_fusion_url or os.environ.get(SANDBOX_FUSION_ENV) or None
        self.workers = int(workers) if workers else usable_cpus()
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self._cache: LRUCache = LRUCache(cache_size)  # (program, tests) hash -> SandboxResult
        self._lock = threading.Lock()
        self.last_results: list[SandboxResult | None] = []  # per response of the last grade_many call

    def grade(self, response: str, gold: str) -> Grade:
        return self.grade_many([response], [gold])[0]

    def grade_many(self, responses: Sequence[str], golds: Sequence[str], workers: int = 1) -> list[Grade]:
        """Grade ``responses[i]`` against ``golds[i]``; distinct (program, tests) pairs run in
        parallel, ``workers`` at a time (``<= 1``: this grader's own ``workers``)."""
        if len(responses) != len(golds):
            raise ValueError(f"{len(responses)} responses but {len(golds)} golds")
        codes = [extract_code(r) for r in responses]
        keys = [None if c is None else self._key(c, g) for c, g in zip(codes, golds)]
        todo: dict[str, tuple[str, str]] = {}
        results: dict[str, SandboxResult] = {}
        with self._lock:
            for key, code, gold in zip(keys, codes, golds):
                if key is None or key in results or key in todo:
                    continue
                cached = self._cache.get(key)
                if cached is not None:
                    results[key] = cached
                else:
                    todo[key] = (code, gold)
        n = workers if workers and workers > 1 else self.workers
        items = list(todo.items())
        if items:
            with ThreadPoolExecutor(max_workers=max(1, min(n, len(items)))) as pool:
                for (key, _), res in zip(items, pool.map(lambda kv: self._run(*kv[1]), items)):
                    results[key] = res
            with self._lock:
                for key, _ in items:
                    self._cache[key] = results[key]
        self.last_results = [None if k is None else results[k] for k in keys]
        return [Grade(False, None) if k is None else Grade(results[k].passed, c[:MAX_ANSWER_CHARS])
                for k, c in zip(keys, codes)]

    def _run(self, code: str, gold: str) -> SandboxResult:
        try:
            spec = decode_tests(gold)
        except ValueError as exc:  # a broken benchmark file, not model output: the loader validates
            return SandboxResult(False, "bad_test", str(exc))
        if self.sandbox_fusion_url:
            return run_in_sandbox_fusion(code, spec, self.sandbox_fusion_url, self.limits)
        return run_in_sandbox(code, spec, self.limits)

    @staticmethod
    def _key(code: str, gold: str) -> str:
        h = hashlib.sha256()
        h.update(code.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
        h.update(gold.encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    def cache_clear(self) -> None:
        with self._lock:
            self._cache.clear()


register_grader("code", CodeGrader)
