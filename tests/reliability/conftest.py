"""Reliability tests (docs/reliability.md): the embedded fixtures (a private model cache) and helpers
that run ``sweep.py`` as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.embedded.conftest import REPO, _private_cache, cache_dir  # noqa: F401 - fixtures reused here

SMOKE = ("preset=smoke", "backend.progress=false")


def sweep_env(cache: Path, **extra: str) -> dict:
    """The environment of a sweep.py subprocess: this checkout first on the path, a private model cache."""
    env = {**os.environ, "SENT_HARNESS_CACHE": str(cache), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           **extra}
    env.pop("HYDRA_FULL_ERROR", None)
    env.update(extra)
    return env


def sweep_cmd(root: Path, *args: str) -> list[str]:
    flags = [a for a in args if a.startswith("-")]  # Hydra's argparse wants -m before the overrides
    return [sys.executable, "sweep.py", *flags, *SMOKE, f"runs_root={root}", *[a for a in args if a not in flags]]


def run_sweep(root: Path, cache: Path, *args: str, env_extra: dict | None = None, timeout: int = 300):
    return subprocess.run(sweep_cmd(root, *args), cwd=REPO, env=sweep_env(cache, **(env_extra or {})),
                          capture_output=True, text=True, timeout=timeout)


def error_lines(stderr: str) -> list[str]:
    return [x for x in stderr.splitlines() if x.startswith("error:")]


@pytest.fixture
def cache(cache_dir):  # noqa: F811
    return cache_dir
