"""A stateful method (EntroPIC's PI integral) through the embedded trainer's checkpoints: a run killed
(SIGKILL) after step 3, checkpointed at step 2 and resumed, ends identical to an uninterrupted run,
its controller state included (``method/integral`` and ``method/alpha`` are logged every step)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import torch

from core.embedded import trainer
from tests.embedded.conftest import REPO, smoke


def _train_lines(run_dir):
    return [{k: v for k, v in json.loads(x).items() if not k.startswith("time/")}
            for x in (run_dir / "train.jsonl").read_text().splitlines()]


def test_entropic_state_survives_sigkill_and_resume(tmp_path, cache_dir):
    ref = tmp_path / "ref"
    trainer.run(smoke("method=entropic", "seed=0"), ref)
    ref_lines = _train_lines(ref)
    integrals = [r["method/integral"] for r in ref_lines]
    assert len(set(integrals)) == len(integrals)  # the state moves every step (so a lost state would show)
    ck = torch.load(ref / "checkpoints" / "last.pt", weights_only=True)
    assert set(ck["method_state"]) == {"integral"} and ck["method_state"]["integral"] != 0.0

    env = {**os.environ, "SENT_HARNESS_CACHE": str(cache_dir), trainer.KILL_ENV: "3"}
    cmd = [sys.executable, "sweep.py", "method=entropic", "seed=0", "preset=smoke", f"runs_root={tmp_path}",
           "backend.progress=false"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    d = tmp_path / "default" / "method=entropic,preset=smoke,seed=0"
    assert torch.load(d / "checkpoints" / "last.pt", weights_only=True)["step"] == 2
    trainer.run(smoke("method=entropic", "seed=0"), d)
    assert _train_lines(d) == ref_lines
    assert torch.load(d / "checkpoints" / "last.pt", weights_only=True)["method_state"] == ck["method_state"]


def test_a_checkpoint_without_the_methods_state_is_refused(tmp_path):
    d = tmp_path / "run"
    trainer.run(smoke("method=entropic", "seed=0", "train.steps=2"), d)
    path = d / "checkpoints" / "last.pt"
    ck = torch.load(path, weights_only=True)
    ck["method_state"] = {}
    torch.save(ck, path)
    (d / "DONE").unlink()
    import pytest

    with pytest.raises(RuntimeError, match="method state"):
        trainer.run(smoke("method=entropic", "seed=0", "train.steps=4"), d)


def test_a_checkpoint_trained_with_other_method_settings_is_refused(tmp_path):
    """A run folder resumed under changed hyperparameters (e.g. a recalibrated per-scale file, which
    is not part of the run name) is refused, naming what changed, instead of silently mixing them."""
    import pytest

    d = tmp_path / "run"
    trainer.run(smoke("method=en", "seed=0", "train.steps=2"), d)
    (d / "DONE").unlink()
    with pytest.raises(RuntimeError, match=r"other method settings .*entropy_coef"):
        trainer.run(smoke("method=en", "seed=0", "train.steps=4", "method.entropy_coef=0.5"), d)
    trainer.run(smoke("method=en", "seed=0", "train.steps=4"), d)  # the same settings resume
    assert (d / "DONE").exists()
