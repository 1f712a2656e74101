"""The run-log writer: the one place that writes the run-log contract (``docs/runlog.md``).

Backends call it; analysis only reads what it writes. Guarantees:

- every ``.jsonl`` line is written with one ``write`` call on an ``O_APPEND`` descriptor and flushed
  (line-atomic; a crash leaves at most one truncated last line, which :meth:`RunLog.truncate_to_step`
  also removes);
- ``config.yaml``, ``meta.json`` and ``DONE`` are written to a temp file and renamed (atomic);
- on resume, :meth:`RunLog.truncate_to_step` cuts every log back to the checkpoint's step, so no
  line is duplicated.

No torch import here.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

__all__ = ["SCHEMA_VERSION", "RunLog", "git_state", "package_versions", "utc_now"]

SCHEMA_VERSION = 1

#: jsonl file (relative to the run dir) -> the key holding its step
STEP_KEYS = {"train.jsonl": "step", "token_stats.jsonl": "step", "semantic_entropy.jsonl": None}


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def git_state(root: str | Path | None = None) -> tuple[str, bool]:
    """``(sha, dirty)`` of the harness checkout; ``("unknown", True)`` outside a git checkout."""
    root = Path(root or _repo_root())
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=10, check=True).stdout
        return sha, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return "unknown", True


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for key, dist in (("torch", "torch"), ("verl", "verl"), ("transformers", "transformers"),
                      ("math_verify", "math-verify")):
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[key] = None
    return out


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf -> None (JSON has no NaN), numpy/torch scalars -> python."""
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 0) == 0:
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class RunLog:
    """Writer for one run directory."""

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)

    # ---- state -------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return (self.dir / "DONE").exists()

    # ---- whole files -------------------------------------------------------------------------
    def write_config(self, resolved: Mapping[str, Any]) -> None:
        """``config.yaml``: the fully resolved config (a plain mapping)."""
        import yaml

        _atomic_write(self.dir / "config.yaml", yaml.safe_dump(_clean(dict(resolved)), sort_keys=False))

    def write_meta(self, *, method: str, method_version: int, seed: int, backend: str, model: str,
                   curriculum: str, curriculum_stages: int, extra: Mapping[str, Any] | None = None) -> dict:
        """``meta.json``; ``started`` is kept from an earlier start of the same run."""
        started = utc_now()
        old = self.dir / "meta.json"
        if old.exists():
            try:
                started = json.loads(old.read_text()).get("started", started)
            except (OSError, ValueError):
                pass
        sha, dirty = git_state()
        meta = {"schema_version": SCHEMA_VERSION, "method": method, "method_version": int(method_version),
                "seed": int(seed), "backend": backend, "model": model, "curriculum": curriculum,
                "curriculum_stages": int(curriculum_stages), "git_sha": sha, "dirty": dirty,
                "versions": package_versions(), "started": started, **dict(extra or {})}
        _atomic_write(old, json.dumps(_clean(meta), indent=2) + "\n")
        return meta

    def write_done(self, summary: Mapping[str, Any]) -> None:
        """``DONE``, last: ``{"finished", "steps", "final", "eval"}`` (+ anything in ``summary``)."""
        _atomic_write(self.dir / "DONE", json.dumps(_clean({"finished": utc_now(), **dict(summary)}), indent=2) + "\n")

    # ---- append-only logs ----------------------------------------------------------------------
    def append(self, name: str, record: Mapping[str, Any]) -> None:
        """Append one JSON line to ``name`` (e.g. ``train.jsonl``, ``samples/synth_1.jsonl``)."""
        self.append_many(name, [record])

    def append_many(self, name: str, records) -> None:
        """Append lines; each line is one ``write`` (records of one call may be split by a crash)."""
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            for rec in records:
                line = json.dumps(_clean(rec), separators=(",", ":"), allow_nan=False) + "\n"
                os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)

    # ---- resume ------------------------------------------------------------------------------
    def truncate_to_step(self, step: int) -> dict[str, int]:
        """Drop every log line beyond ``step`` (and any truncated line), before a resume from a
        checkpoint taken after ``step``. ``step=0``: no checkpoint, start over (logs emptied).

        Covers ``train.jsonl`` / ``token_stats.jsonl`` (key ``step``), ``samples/*.jsonl`` (key
        ``eval_step``) and ``semantic_entropy.jsonl`` (kept only if ``step > 0``). Returns the number
        of lines dropped per file.
        """
        dropped = {}
        files = [(self.dir / n, k) for n, k in STEP_KEYS.items()]
        files += [(p, "eval_step") for p in sorted((self.dir / "samples").glob("*.jsonl"))]
        for path, key in files:
            if not path.exists():
                continue
            keep, n_drop = [], 0
            for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
                try:
                    if not line.endswith("\n"):
                        raise ValueError("truncated line")
                    rec = json.loads(line)
                    ok = (step > 0) if key is None else int(rec[key]) <= step
                except (ValueError, KeyError, TypeError):
                    ok = False
                if ok:
                    keep.append(line)
                else:
                    n_drop += 1
            if n_drop:
                _atomic_write(path, "".join(keep))
            dropped[str(path.relative_to(self.dir))] = n_drop
        return dropped
