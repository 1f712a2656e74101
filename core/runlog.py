"""The run-log writer: the one place that writes the run-log contract (``docs/runlog.md``).

Backends call it; analysis only reads what it writes. Guarantees:

- every ``.jsonl`` line is written with one ``write`` call on an ``O_APPEND`` descriptor and flushed
  (line-atomic; a crash leaves at most one truncated last line, which :meth:`RunLog.truncate_to_step`
  also removes);
- every whole-file write of a run file (``config.yaml``, ``meta.json``, ``DONE``, checkpoints, rewritten
  logs) goes through :func:`atomic_write`: a unique temp file in the same folder, ``fsync``, rename,
  ``fsync`` of the folder; a full disk raises :class:`RunFileError` naming the folder and leaves no
  temp file behind;
- on resume, :meth:`RunLog.truncate_to_step` cuts every log back to the checkpoint's step, so no
  line is duplicated, and :meth:`RunLog.check_steps` refuses a log with a gap (a lost step);
- :func:`run_lock` makes one process own a run directory (``flock``, released when the process dies);
- :func:`claim_checkpoint_dir` refuses to resume from a checkpoint folder another run created.

Docs: ``docs/runlog.md``, ``docs/reliability.md``.

No torch import here.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import json
import math
import os
import platform
import socket
import subprocess
import tempfile
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

__all__ = ["SCHEMA_VERSION", "ResumeError", "RunFileError", "RunLocked", "RunLog", "atomic_write", "claim_checkpoint_dir",
           "step_ranges", "git_state", "package_versions", "run_lock", "utc_now"]

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


class RunFileError(OSError):
    """A run file could not be written (disk full, quota, permissions): the message names the folder."""


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a directory; the rename is still atomic
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` atomically: readers see the old file or the new one, never a part.

    A unique temp file in the same folder (``mkstemp``: unique across processes and hosts), ``fsync``,
    ``os.replace``, ``fsync`` of the folder (so a power cut after return cannot lose the rename). Any
    ``OSError`` (``ENOSPC`` disk full, ``EDQUOT``, ``EACCES``) removes the temp file and raises
    :class:`RunFileError` naming the folder and the fix. The one helper every run-file write uses.
    """
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        why = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
               errno.EACCES: "permission denied", errno.EROFS: "the file system is read-only"}.get(exc.errno)
        raise RunFileError(exc.errno, f"cannot write {path.name} in {path.parent}: "
                           f"{why or exc.strerror or exc}; free space (or fix the folder) and relaunch: the run "
                           "resumes from its last checkpoint") from exc
    _fsync_dir(path.parent)
    return path


# ---- one owner per run directory ---------------------------------------------------------------

class ResumeError(RuntimeError):
    """A run directory that cannot be resumed (an unreadable checkpoint, a missing stage reference)."""


class RunLocked(RuntimeError):
    """Another live process owns the run directory (see :func:`run_lock`)."""


@contextlib.contextmanager
def run_lock(lock_path: str | os.PathLike, what: str = ""):
    """Own ``lock_path`` (an exclusive ``flock``) for the ``with`` block; :class:`RunLocked` if another
    process holds it. The lock dies with its process (SIGKILL included), so no stale lock is left.

    Linux NFS clients (NFSv4, and v3 with lockd) implement ``flock`` as a whole-file POSIX lock that
    the server arbitrates, so processes on different SLURM nodes exclude each other; what this relies
    on is that the shared folder is mounted with locking on (not ``nolock``/``local_lock=all``). The
    file holds ``host pid time`` of the owner, for the message only.
    """
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            owner = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            raise RunLocked(f"{what or lock_path} is being written by another process ({owner}); "
                            f"skipping it here (lock {lock_path})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{socket.gethostname()} pid={os.getpid()} since={utc_now()}\n".encode(), 0)
        yield lock_path
    finally:
        os.close(fd)  # releases the flock


def claim_checkpoint_dir(ckpt_dir: str | os.PathLike, run_id: str) -> None:
    """Refuse to resume from a checkpoint folder that this run did not create.

    An empty (or absent) folder is claimed: ``RUN_ID`` is written into it. A folder with checkpoints
    must hold this run's ``RUN_ID``: resuming loads its files with pickle (verl calls
    ``torch.load(weights_only=False)``), which executes whatever code a crafted file carries.
    """
    ckpt_dir = Path(ckpt_dir)
    marker = ckpt_dir / "RUN_ID"
    content = [p for p in ckpt_dir.iterdir() if p.name != "RUN_ID"] if ckpt_dir.is_dir() else []
    if marker.exists():
        owner = marker.read_text(encoding="utf-8", errors="replace").strip()
        if owner != run_id:
            raise RunFileError(errno.EPERM, f"refusing to resume from {ckpt_dir}: it was created by run id {owner!r}, "
                               f"not by this run ({run_id!r}). Resuming unpickles its files (arbitrary code). Move "
                               "the folder away to start this stage over, or, if you trust it, write this run's id "
                               f"into {marker}")
        return
    if content:
        raise RunFileError(errno.EPERM, f"refusing to resume from {ckpt_dir}: it holds {len(content)} entries but no "
                           "RUN_ID, so this run did not create it. Resuming unpickles its files (arbitrary code). Move "
                           f"it away to start over, or, if you trust it, write {run_id!r} into {marker}")
    atomic_write(marker, run_id + "\n")


def step_ranges(steps: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3, 7"`` (sorted steps; the analysis's gap warnings use it too)."""
    out, i = [], 0
    while i < len(steps):
        j = i
        while j + 1 < len(steps) and steps[j + 1] == steps[j] + 1:
            j += 1
        out.append(str(steps[i]) if i == j else f"{steps[i]}-{steps[j]}")
        i = j + 1
    return ", ".join(out)


class RunLog:
    """Writer for one run directory."""

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)

    # ---- state -------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return (self.dir / "DONE").exists()

    @property
    def run_id(self) -> str:
        """This run directory's id (``.run_id``, a random uuid written at its first use)."""
        path = self.dir / ".run_id"
        if not path.exists():
            atomic_write(path, uuid.uuid4().hex + "\n")
        return path.read_text(encoding="utf-8").strip()

    def check_steps(self, upto: int, name: str = "train.jsonl") -> None:
        """Raise :class:`RunFileError` unless ``name`` holds exactly one record per step ``1 .. upto``
        (no gap, no repeat, no unreadable line): a log that lost a step cannot be completed by a resume."""
        path = self.dir / name
        steps, bad = [], 0
        if path.exists():
            for line in path.read_bytes().splitlines():
                try:
                    steps.append(int(json.loads(line)["step"]))
                except (ValueError, KeyError, TypeError):
                    bad += 1
        if steps == list(range(1, upto + 1)) and not bad:
            return
        have = sorted(set(steps))
        missing = sorted(set(range(1, upto + 1)) - set(have))
        repeated = sorted({s for s in steps if steps.count(s) > 1})
        what = "; ".join(x for x in (
            f"missing steps {step_ranges(missing)}" if missing else "",
            f"repeated steps {step_ranges(repeated)}" if repeated else "",
            f"{bad} unreadable line(s)" if bad else "",
            f"steps beyond {upto}: {step_ranges([s for s in have if s > upto])}" if have and have[-1] > upto else "") if x)
        raise RunFileError(errno.EIO, f"{path} does not hold steps 1..{upto} exactly once ({what or 'out of order'}): "
                           f"the log was damaged and the lost steps cannot be rebuilt from the checkpoint (step {upto}). "
                           f"Delete the run directory {self.dir} to train this run again")

    # ---- whole files -------------------------------------------------------------------------
    def write_config(self, resolved: Mapping[str, Any]) -> None:
        """``config.yaml``: the fully resolved config (a plain mapping)."""
        import yaml

        atomic_write(self.dir / "config.yaml", yaml.safe_dump(_clean(dict(resolved)), sort_keys=False))

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
        atomic_write(old, json.dumps(_clean(meta), indent=2) + "\n")
        return meta

    def write_done(self, summary: Mapping[str, Any]) -> None:
        """``DONE``, last: ``{"finished", "steps", "final", "eval"}`` (+ anything in ``summary``)."""
        atomic_write(self.dir / "DONE", json.dumps(_clean({"finished": utc_now(), **dict(summary)}), indent=2) + "\n")

    # ---- append-only logs ----------------------------------------------------------------------
    def append(self, name: str, record: Mapping[str, Any]) -> None:
        """Append one JSON line to ``name`` (e.g. ``train.jsonl``, ``samples/synth_1.jsonl``)."""
        self.append_many(name, [record])

    def append_many(self, name: str, records) -> None:
        """Append lines; each line is one ``write`` (records of one call may be split by a crash)."""
        path = self.dir / name
        lines = [(json.dumps(_clean(rec), separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")
                 for rec in records]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                for line in lines:
                    n = os.write(fd, line)
                    if n != len(line):  # a short append (disk full): cut the partial line back off
                        os.ftruncate(fd, os.fstat(fd).st_size - n)
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise RunFileError(exc.errno, f"cannot append to {path.name} in {path.parent}: {exc.strerror or exc}; "
                               "free space (or fix the folder) and relaunch: the run resumes from its last "
                               "checkpoint") from exc

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
                atomic_write(path, "".join(keep))
            dropped[str(path.relative_to(self.dir))] = n_drop
        return dropped
