"""A process pool whose tasks have a deadline, on ``pebble.ProcessPool``.

Owns the guarantees the graders rely on when they run work in other processes:

- a task that runs past its deadline is killed together with its worker process (pebble stops the
  worker and starts a fresh one) and its result is ``None``; so is a task whose worker died under
  it (e.g. out of memory). The other tasks are unaffected and the pool stays usable;
- the pool never runs more than ``workers`` processes (one task each at a time);
- workers are *spawned* (not forked), so the pool works from any thread of a process that already
  runs threads (a verl reward worker, a thread pool), and each task runs in its worker's main
  thread, where ``signal.alarm`` works (math-verify's own timeout);
- workers that cannot start (they die before taking a task, or none takes one within
  :data:`STARTUP_S`) raise ``RuntimeError``, so the caller can fall back to in-process work.

The deadline counts from the moment a worker takes the task, so starting a worker (importing
sympy and math-verify: seconds) is not charged to its first task.

Spawning has multiprocessing's usual cost: a worker imports the caller's main *script* (as
``__mp_main__``, so its ``if __name__ == "__main__"`` block does not run); a ``python -m`` main
(``core.eval``, ``pytest``) is not imported. A main that cannot be imported (a script read from
stdin) makes the workers die at start: :meth:`DeadlinePool.run` raises, and the grader falls
back to in-process grading with a warning.

May import: pebble and the standard library. It knows nothing of grading.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait

from pebble import ProcessExpired, ProcessPool

__all__ = ["DeadlinePool", "STARTUP_S"]

STARTUP_S = 60.0
"""Seconds a fresh pool may take before a worker takes its first task (spawn + imports)."""

_POLL_S = 0.5  # how often a waiting caller checks that the pool is still alive


class DeadlinePool:
    """``workers`` spawned worker processes running module-level functions with a deadline.

    Args:
        workers: the number of worker processes (>= 1); started on first use, kept until
            :meth:`close`.
        initializer: a module-level function each worker runs once when it starts (e.g. heavy
            imports); a worker whose initializer raises exits, and :meth:`run` raises.
    """

    def __init__(self, workers: int, initializer: Callable[[], None] | None = None):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = int(workers)
        self._pool = ProcessPool(max_workers=self.workers, initializer=initializer,
                                 context=multiprocessing.get_context("spawn"))
        self._started = False  # a worker has taken a task
        self._closed = False

    def run(self, fn: Callable, args_list: Sequence[tuple], deadline_s: float) -> list:
        """``[fn(*args) for args in args_list]`` on the workers; ``None`` for a task killed at
        ``deadline_s`` seconds or whose worker died. Any other exception of ``fn`` is raised.

        Raises RuntimeError when the workers cannot start (see the module docstring); the pool
        is then closed.
        """
        futures = [self._pool.schedule(fn, args=tuple(args), timeout=deadline_s) for args in args_list]
        index = {future: i for i, future in enumerate(futures)}
        results: list = [None] * len(futures)
        startup_deadline = time.monotonic() + STARTUP_S
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=_POLL_S)  # all done, or every _POLL_S seconds
            for future in done:
                results[index[future]] = _value(future)
            if not self._started and (done or any(future.running() for future in pending)):
                self._started = True
            if pending and not self._pool.active:  # pebble gave up: its workers die at start
                self.close()
                raise RuntimeError("the pool's worker processes die before taking a task")
            if pending and not self._started and time.monotonic() > startup_deadline:
                self.close()
                raise RuntimeError(f"no worker process of the pool started within {STARTUP_S:g} s")
        return results

    def close(self) -> None:
        """Stop the workers (killing any running task) and the pool's threads; idempotent."""
        if not self._closed:
            self._closed = True
            self._pool.stop()
            self._pool.join()


def _value(future: Future):
    """The task's result; None when it was killed at its deadline or its worker died."""
    try:
        return future.result()
    except (TimeoutError, ProcessExpired):
        return None
