"""Launch a command and kill, by PID, every process it starts (Ray's head, raylet, workers, vLLM's
engine), also when it hangs: verl main_ppo on CPU hung rather than exited on the failures seen.

A watcher thread records the PIDs of the command's descendants every ``interval`` seconds (a process
re-parented to init after its parent died is still remembered), and every process of the command's
own session is added at the end. Each recorded PID is kept with its start time, so a PID the kernel
has reused for another program is never killed. PIDs are also appended to ``$E2E_PIDFILE`` when set,
so .ci/run's trap can kill what a killed test process could not.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import psutil

__all__ = ["Launch", "kill_recorded"]


class Launch:
    """``subprocess.Popen`` in its own session, with its process tree tracked until :meth:`cleanup`."""

    def __init__(self, cmd: list[str], *, log: Path, cwd: Path, env: dict[str, str], interval: float = 0.5):
        self.log_path = log
        self._log = open(log, "ab")
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.seen: dict[int, float] = {}
        self._record(self.proc.pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(interval,), daemon=True)
        self._thread.start()

    def _record(self, pid: int) -> None:
        if pid in self.seen:
            return
        try:
            self.seen[pid] = psutil.Process(pid).create_time()
        except psutil.Error:
            return
        path = os.environ.get("E2E_PIDFILE")
        if path:
            with open(path, "a") as f:
                f.write(f"{pid} {self.seen[pid]}\n")

    def _scan(self) -> None:
        try:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                self._record(child.pid)
        except psutil.Error:
            pass
        for p in psutil.process_iter(["pid"]):
            try:
                if os.getsid(p.pid) == self.proc.pid:
                    self._record(p.pid)
            except (OSError, psutil.Error):
                continue

    def _watch(self, interval: float) -> None:
        while not self._stop.is_set():
            self._scan()
            self._stop.wait(interval)

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None when it is still running after ``timeout`` seconds."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def cleanup(self) -> list[int]:
        """Kill the command and every process it started that is still alive; returns their PIDs."""
        self._scan()
        self._stop.set()
        self._thread.join(timeout=5)
        killed = kill_recorded(self.seen)
        self.proc.wait(timeout=30)
        self._log.close()
        return killed


def kill_recorded(seen: dict[int, float]) -> list[int]:
    """SIGKILL each ``pid`` whose start time is still ``seen[pid]`` (a reused PID is left alone)."""
    alive = []
    for pid, created in seen.items():
        try:
            p = psutil.Process(pid)
            if abs(p.create_time() - created) < 1e-3:
                p.kill()
                alive.append(pid)
        except psutil.Error:
            continue
    psutil.wait_procs([psutil.Process(p) for p in alive if psutil.pid_exists(p)], timeout=10)
    return alive


def wait_for(predicate, timeout: float, interval: float = 0.5) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


if __name__ == "__main__":  # .ci/run's trap: python -m tests.verl_e2e.procs PIDFILE
    import sys

    recorded = {}
    for line in Path(sys.argv[1]).read_text().splitlines() if Path(sys.argv[1]).exists() else []:
        pid, created = line.split()
        recorded[int(pid)] = float(created)
    left = kill_recorded(recorded)
    print(f"[verl-e2e] killed {len(left)} leftover process(es) by PID: {left}" if left else
          f"[verl-e2e] no leftover process among {len(recorded)} recorded")
