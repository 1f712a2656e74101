"""The process that runs one candidate program against its tests (the code grader's sandbox).

Started by :mod:`core.eval.code_grading` as ``python -I core/eval/sandbox.py`` in a fresh temporary
working folder, in a new session (its own process group, killed whole on timeout). It reads one job
(JSON) from stdin, applies the limits below to itself, runs the tests one after another and stops at
the first failure, then writes one result line, prefixed by the job's nonce, to its original stdout.

Limits applied here, before any candidate code runs:

- memory: ``RLIMIT_AS`` = ``memory_mb`` (a memory bomb gets ``MemoryError``);
- CPU time: ``RLIMIT_CPU`` = ``cpu_s`` (the parent's wall-clock limit is the real one);
- processes: ``RLIMIT_NPROC`` = the user's processes and threads now + ``nproc_margin`` (a fork or
  thread bomb stops there, while the common ``threading`` stack-size trick still works; the kernel
  does not enforce it for root, hence also the Python-level guard below, and whatever the program
  starts anyway dies with its process group); ``RLIMIT_CORE`` = 0; ``RLIMIT_FSIZE`` = ``file_mb``;
- network: a new, empty network namespace (``unshare(CLONE_NEWNET)``; with ``CLONE_NEWUSER`` when
  not privileged). Where neither works the result says ``"network": "guard-only"``;
- a Python-level guard (always): ``socket``, ``os.fork``/``exec*``/``spawn*``/``system``/``kill``
  and ``subprocess.Popen`` raise ``PermissionError``. This is a guard against accidents, not a
  security boundary: candidate code can undo it (``docs/evaluation.md``, "Code grading").

Per-test time limit: ``signal.setitimer``; the timeout is a ``BaseException`` so a bare
``except Exception`` in the candidate does not swallow it. Code stuck in C (a huge integer
power) is not interrupted by it; the parent's per-problem wall limit kills the process group.

Test kinds (LiveCodeBench's released format, plus HumanEval's check program):

- ``stdin``: the program runs as ``__main__`` with the test input on stdin; its stdout must equal
  the expected output line by line after stripping each line and the whole text, a line also
  matching when both parse as the same list of decimals (LiveCodeBench's rule);
- ``functional``: ``fn_name`` is called (as a method of ``Solution()`` if the code defines a class
  ``Solution``, else as a module-level function) with one argument per input line (each a JSON
  value); the result (a tuple read as a list) must ``==`` the JSON-decoded output;
- ``check``: the test's ``input`` is a program defining ``check(candidate)`` (HumanEval), run after
  the solution and called with the function named ``fn_name``; passing means no exception.

Only the standard library is imported here: this file runs under ``python -I`` (no site
customisation, no PYTHONPATH, no current folder on sys.path).
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import resource
import signal
import sys

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000

# What LiveCodeBench puts before every candidate program (imports models commonly rely on).
HEADER = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\nfrom random import *\n"
    "from statistics import *\nfrom itertools import *\nfrom functools import *\nfrom operator import *\n"
    "from io import *\nfrom sys import *\nfrom json import *\nfrom builtins import *\nfrom typing import *\n"
    "import string, re, datetime, collections, heapq, bisect, copy, math, random, statistics, itertools\n"
    "import functools, operator, io, sys, json\nsys.setrecursionlimit(50000)\n"
)


class TestTimeout(BaseException):
    """One test ran past its time limit."""


def _on_alarm(signum, frame):
    raise TestTimeout()


def _isolate_network() -> str:
    """A new empty network namespace for this process: "namespace", "user-namespace" or "guard-only"."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET) == 0:
            return "namespace"
        if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
            return "user-namespace"
    except (OSError, AttributeError):
        pass
    return "guard-only"


def _user_tasks() -> int:
    """Processes and threads of this process's real user on the machine (what RLIMIT_NPROC counts)."""
    uid, total = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                total += int(fields["Threads"])
        except (OSError, KeyError, ValueError):  # gone meanwhile, or not readable
            continue
    return total


def _apply_limits(job: dict) -> None:
    mem = int(job["memory_mb"]) * 1024 * 1024
    nproc = _user_tasks() + int(job.get("nproc_margin", 256))
    for res, value in ((resource.RLIMIT_AS, mem), (resource.RLIMIT_CPU, int(job["cpu_s"])),
                       (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NPROC, nproc),
                       (resource.RLIMIT_FSIZE, int(job["file_mb"]) * 1024 * 1024)):
        try:
            resource.setrlimit(res, (value, value))
        except (ValueError, OSError):  # e.g. a hard limit already lower: keep it
            pass


def _denied(*args, **kwargs):
    raise PermissionError("the code grader's sandbox does not allow this (network or process creation)")


def _install_guard() -> None:
    import socket
    import subprocess

    class _NoSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            _denied()

    socket.socket = _NoSocket
    for name in ("create_connection", "create_server", "socketpair", "fromfd", "getaddrinfo"):
        setattr(socket, name, _denied)
    for name in ("fork", "forkpty", "system", "popen", "kill", "killpg", "execv", "execve", "execvp", "execvpe",
                 "execl", "execle", "execlp", "execlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe", "posix_spawn",
                 "posix_spawnp"):
        if hasattr(os, name):
            setattr(os, name, _denied)
    subprocess.Popen = _denied


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def _decimals(line: str):
    from decimal import Decimal, InvalidOperation

    try:
        return [Decimal(x) for x in line.split()]
    except (InvalidOperation, ValueError):
        return None


def stdout_matches(got: str, expected: str) -> bool:
    """LiveCodeBench's stdin/stdout comparison (see the module docstring)."""
    a, b = _lines(got), _lines(expected)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        dx, dy = _decimals(x), _decimals(y)
        if dx is None or dy is None or dx != dy:
            return False
    return True


def _short(text: str, n: int = 200) -> str:
    text = str(text)
    return text if len(text) <= n else text[:n] + "..."


class _Failed(Exception):
    def __init__(self, status: str, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def _run_guarded(fn, seconds: float):
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    except TestTimeout:
        raise _Failed("timeout", f"ran past the {seconds:g} s per-test limit") from None
    except MemoryError:
        raise _Failed("memory", "MemoryError (memory limit)") from None
    except RecursionError:
        raise _Failed("runtime_error", "RecursionError") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _unlinked_file(data: bytes = b"") -> int:
    """A read/write descriptor on a file of the working folder that is already unlinked (the program
    sees an empty folder), holding ``data``, positioned at its start."""
    import tempfile

    import fcntl

    low, path = tempfile.mkstemp(dir=".")
    os.unlink(path)
    fd = fcntl.fcntl(low, fcntl.F_DUPFD, 10)  # never 0 or 1, even when the program closed them
    os.close(low)
    while data:
        data = data[os.write(fd, data):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _run_stdin(compiled, test: dict, seconds: float) -> None:
    """Run the program as ``__main__`` with the test input as the process's real stdin (fd 0) and
    its stdout captured at fd 1: ``input()``, ``sys.stdin.buffer``, ``open(0)``, ``print``,
    ``sys.stdout.buffer`` and ``os.write(1, ...)`` all behave as in a real run."""
    in_fd, out_fd = _unlinked_file(test["input"].encode("utf-8")), _unlinked_file()
    os.dup2(in_fd, 0)
    os.dup2(out_fd, 1)
    os.close(in_fd)
    saved = sys.stdin, sys.stdout
    stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
    stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8")

    def run():
        sys.stdin, sys.stdout = stdin, stdout
        try:
            exec(compiled, {"__name__": "__main__", "__builtins__": __builtins__})
        except SystemExit:
            pass
        finally:
            try:
                sys.stdout.flush()
            except Exception:  # noqa: BLE001 - the program closed its stdout
                pass
            sys.stdin, sys.stdout = saved

    try:
        try:
            _run_guarded(run, seconds)
        except _Failed:
            raise
        except Exception as exc:  # noqa: BLE001 - any error of the program
            raise _Failed("runtime_error", f"{type(exc).__name__}: {_short(exc)}") from None
        chunks = []
        os.lseek(out_fd, 0, os.SEEK_SET)
        while chunk := os.read(out_fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(out_fd)
    got = b"".join(chunks).decode("utf-8", errors="replace")
    if not stdout_matches(got, test["output"]):
        raise _Failed("wrong_answer", f"expected {_short(test['output'])!r}, got {_short(got)!r}")


def _load_module(compiled, seconds: float) -> dict:
    ns = {"__name__": "__solution__", "__builtins__": __builtins__}

    def run():
        exec(compiled, ns)

    try:
        _run_guarded(run, seconds)
    except _Failed:
        raise
    except BaseException as exc:  # noqa: BLE001 - SystemExit at import counts as a failure too
        raise _Failed("runtime_error", f"at import: {type(exc).__name__}: {_short(exc)}") from None
    return ns


def _function(ns: dict, fn_name: str):
    if isinstance(ns.get("Solution"), type):
        return getattr(ns["Solution"](), fn_name)
    return ns[fn_name]


def _run_functional(ns: dict, fn_name: str, test: dict, seconds: float) -> None:
    try:
        args = [json.loads(line) for line in test["input"].split("\n")]
        expected = json.loads(test["output"])
    except ValueError as exc:
        raise _Failed("bad_test", f"test input/output is not JSON ({exc})") from None

    def run():
        result = _function(ns, fn_name)(*args)
        return list(result) if isinstance(result, tuple) else result

    try:
        got = _run_guarded(run, seconds)
    except _Failed:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _Failed("runtime_error", f"{type(exc).__name__}: {_short(exc)}") from None
    if got != expected:
        raise _Failed("wrong_answer", f"expected {_short(test['output'])!r}, got {_short(repr(got))!r}")


def _run_check(ns: dict, fn_name: str, test: dict, seconds: float) -> None:
    def run():
        exec(compile(test["input"], "<check>", "exec"), ns)
        ns["check"](ns[fn_name])

    try:
        _run_guarded(run, seconds)
    except _Failed:
        raise
    except AssertionError as exc:
        raise _Failed("wrong_answer", f"AssertionError {_short(exc)}") from None
    except Exception as exc:  # noqa: BLE001
        raise _Failed("runtime_error", f"{type(exc).__name__}: {_short(exc)}") from None


def run_job(job: dict) -> dict:
    """Run every test of ``job`` (stopping at the first failure); the result dict."""
    tests = job["tests"]
    seconds = float(job["per_test_s"])
    n_passed = 0
    try:
        try:
            compile(job["code"], "<solution>", "exec")  # line numbers of the program itself
            compiled = compile(HEADER + job["code"], "<solution>", "exec")
        except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
            raise _Failed("compile_error", f"{type(exc).__name__}: {_short(exc)}") from None
        ns = None
        for test in tests:
            kind = test.get("testtype")
            if kind == "stdin":
                _run_stdin(compiled, test, seconds)
            elif kind in ("functional", "check"):
                if ns is None:
                    ns = _load_module(compiled, seconds)
                    if not job.get("fn_name"):
                        raise _Failed("bad_test", f"{kind} tests need fn_name")
                    try:
                        _function(ns, job["fn_name"])
                    except Exception as exc:  # noqa: BLE001 - missing function, failing constructor
                        raise _Failed("runtime_error", f"no function {job['fn_name']!r}: "
                                                       f"{type(exc).__name__}: {_short(exc)}") from None
                if kind == "functional":
                    _run_functional(ns, job["fn_name"], test, seconds)
                else:
                    _run_check(ns, job["fn_name"], test, seconds)
            else:
                raise _Failed("bad_test", f"unknown testtype {kind!r}")
            n_passed += 1
    except _Failed as f:
        return {"passed": False, "status": f.status, "detail": f.detail, "n_passed": n_passed, "n_tests": len(tests)}
    return {"passed": True, "status": "ok", "detail": "", "n_passed": n_passed, "n_tests": len(tests)}


def main() -> None:
    job = json.loads(sys.stdin.read())
    real_stdout = os.fdopen(os.dup(1), "w", encoding="utf-8")
    sys.stdin = io.StringIO("")
    network = _isolate_network() if job.get("isolate_network", True) else "not-isolated"
    _apply_limits(job)
    _install_guard()
    signal.signal(signal.SIGALRM, _on_alarm)
    result = run_job(job)
    result["network"] = network
    real_stdout.write("\n" + job["nonce"] + json.dumps(result) + "\n")
    real_stdout.flush()
    os._exit(0)  # skip interpreter teardown (candidate threads, atexit hooks of the candidate)


if __name__ == "__main__":
    main()
