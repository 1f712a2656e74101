"""Faults that are about processes, with real ``sweep.py`` processes on the smoke preset: user errors
print one line and exit non-zero, concurrent launches, kill + damage + relaunch, a full disk, a
diverging run (docs/reliability.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from core.embedded import trainer
from core.runlog import run_lock
from tests.reliability.conftest import REPO, error_lines, run_sweep, sweep_cmd, sweep_env

RUN = "method=grpo,preset=smoke,seed=0"


def _steps(run_dir: Path) -> list[int]:
    return [json.loads(x)["step"] for x in (run_dir / "train.jsonl").read_text().splitlines()]


def _no_temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".tmp" in p.name and ".hydra" not in p.parts]


# ---- one line per user error, exit status (the ~15 "end of a stack trace" cases, case 14) ----------

def test_user_error_is_one_line_without_traceback(tmp_path, cache):
    proc = run_sweep(tmp_path, cache, "seed=abc", "model=qwen3_14b")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    [line] = error_lines(proc.stderr)
    assert "seed='abc' must be an integer" in line and "model=qwen3_14b" in line and "backend=verl" in line
    assert not [p for p in (tmp_path / "default").iterdir() if p.name != ".hydra"]  # nothing written


def test_hydra_full_error_still_shows_the_traceback(tmp_path, cache):
    proc = run_sweep(tmp_path, cache, "seed=abc", env_extra={"HYDRA_FULL_ERROR": "1"})
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "UserError" in proc.stderr


def test_a_bad_job_fails_alone_and_the_sweep_exits_nonzero(tmp_path, cache):
    proc = run_sweep(tmp_path, cache, "-m", "train.lr=-1,1e-4")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    errs = error_lines(proc.stderr)
    assert any("train.lr=-1" in e and "must be > 0" in e for e in errs)
    assert errs[-1].startswith("error: 1 job(s) failed: ")
    done = tmp_path / "default" / f"{RUN},train.lr=0.0001"
    assert (done / "DONE").exists() and _steps(done) == [1, 2, 3, 4]  # the good job still ran


def test_an_empty_grid_is_an_error(tmp_path, cache):
    proc = run_sweep(tmp_path, cache, "-m", "seed=range(0,0)")
    assert proc.returncode == 2 and "the sweep would launch 0 jobs" in proc.stderr
    assert not (tmp_path / "default").exists()


# ---- divergence: caught before anything of the step is written (cases 63, 64) ----------------------

@pytest.mark.parametrize("lr, bad_step", [("1e3", 2), ("1e8", 1)])
def test_divergence_stops_before_the_step_is_written(tmp_path, cache, lr, bad_step):
    proc = run_sweep(tmp_path, cache, f"train.lr={lr}")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    [line] = error_lines(proc.stderr)
    assert f"step {bad_step}: the policy diverged" in line and "Lower train.lr" in line
    d = next(p for p in (tmp_path / "default").iterdir() if p.name.startswith("method="))
    logged = _steps(d) if (d / "train.jsonl").exists() else []
    assert logged == list(range(1, bad_step)) and not (d / "DONE").exists()
    for f in (d / "samples").glob("*.jsonl"):  # only the step-0 evaluation
        assert {json.loads(x)["eval_step"] for x in f.read_text().splitlines()} == {0}


# ---- one owner per run (case 55) -----------------------------------------------------------------

def test_a_run_owned_by_another_process_is_skipped_with_a_message(tmp_path, cache):
    lock = tmp_path / "default" / ".locks" / f"{RUN}.lock"
    with run_lock(lock):
        proc = run_sweep(tmp_path, cache)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "is being written by another process" in proc.stderr and f"pid={os.getpid()}" in proc.stderr
    assert not (tmp_path / "default" / RUN / "train.jsonl").exists()


def test_the_lock_dies_with_its_process(tmp_path):
    lock = tmp_path / "r.lock"
    code = ("import sys, time; from core.runlog import run_lock\n"
            "with run_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(600)\n")
    holder = subprocess.Popen([os.sys.executable, "-c", code, str(lock)], cwd=REPO, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == "held"
        from core.runlog import RunLocked

        with pytest.raises(RunLocked):
            with run_lock(lock):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with run_lock(lock):  # no stale lock after SIGKILL
        pass


def test_the_same_grid_launched_twice_at_once_trains_each_run_once(tmp_path, cache):
    cmd = sweep_cmd(tmp_path, "-m", "seed=3,4")
    env = sweep_env(cache)
    procs = [subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
             for _ in range(2)]
    errs = [p.communicate(timeout=400)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    both = "".join(errs)
    for seed in (3, 4):
        d = tmp_path / "default" / f"method=grpo,preset=smoke,seed={seed}"
        assert _steps(d) == [1, 2, 3, 4] and (d / "DONE").exists()
        assert both.count(f"seed={seed}] step 4/4") == 1  # trained by exactly one process
        assert both.count(f"seed={seed}] step 1/4") == 1


# ---- kill + damage + relaunch (cases 51, 52) ----------------------------------------------------------

def test_damaged_log_before_the_checkpoint_is_refused_on_resume(tmp_path, cache):
    proc = run_sweep(tmp_path, cache, env_extra={trainer.KILL_ENV: "3"})
    assert proc.returncode == -signal.SIGKILL
    d = tmp_path / "default" / RUN
    assert _steps(d) == [1, 2, 3]  # checkpoint at step 2
    path = d / "train.jsonl"
    path.write_bytes(path.read_bytes()[:20])  # truncated inside step 1
    proc = run_sweep(tmp_path, cache)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    [line] = error_lines(proc.stderr)
    assert "does not hold steps 1..2 exactly once (missing steps 1-2)" in line and "Delete the run directory" in line
    assert not (d / "DONE").exists()


def test_finished_run_that_lost_its_last_step_is_not_skipped_silently(tmp_path, cache):
    proc = run_sweep(tmp_path, cache)
    assert proc.returncode == 0, proc.stderr[-2000:]
    d = tmp_path / "default" / RUN
    path = d / "train.jsonl"
    # case 50: DONE removed -> the relaunch resumes at the last step and writes the same DONE
    logs, done = path.read_text(), json.loads((d / "DONE").read_text())
    (d / "DONE").unlink()
    proc = run_sweep(tmp_path, cache)
    assert proc.returncode == 0, proc.stderr[-2000:]
    again = json.loads((d / "DONE").read_text())
    assert path.read_text() == logs and {**again, "finished": 0} == {**done, "finished": 0}
    # case 51: the last line damaged
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]) + lines[-1][:15])  # the last line truncated
    proc = run_sweep(tmp_path, cache)
    assert proc.returncode == 1
    [line] = error_lines(proc.stderr)
    assert "missing steps 4" in line and "1 unreadable line" in line


# ---- a full disk (case 54) ---------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("needs root to mount a small tmpfs (a real full disk)")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


def test_full_disk_is_a_clear_error_and_the_relaunch_resumes(small_disk, cache):
    proc = run_sweep(small_disk, cache)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "basic_ios" not in proc.stderr
    [line] = error_lines(proc.stderr)
    d = small_disk / "default" / RUN
    assert f"in {d}" in line and "the disk is full" in line
    assert _no_temp_files(small_disk) == []
    assert not (d / "DONE").exists()
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    time.sleep(0.1)
    proc = run_sweep(small_disk, cache)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _steps(d) == [1, 2, 3, 4] and (d / "DONE").exists() and _no_temp_files(small_disk) == []


def test_unreadable_checkpoint_is_one_line(tmp_path, cache):
    """Case 49: a damaged last.pt stops the relaunch with one line naming the file and the fix."""
    ckpt = tmp_path / "default" / RUN / "checkpoints" / "last.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"not a checkpoint")
    proc = run_sweep(tmp_path, cache)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    [line] = error_lines(proc.stderr)
    assert f"cannot resume from {ckpt}" in line and "Delete the run directory" in line
