"""The curriculum inside the embedded trainer (smoke preset): stages in the logs, stage-wise data, the
reference reset, and a SIGKILL + resume in the middle of stage 2 that ends identical to an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.embedded import trainer
from tests.embedded.conftest import REPO, smoke

CUR = ("method=sent", "curriculum=semantic_entropy", "curriculum.train_size=12", "curriculum.m=4",
       "train.steps=6", "eval.every=6", "eval.limit=2")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.getbasetemp() / "sent-harness-cache"
    monkeypatch.setenv("SENT_HARNESS_CACHE", str(cache))
    return cache


def _lines(path: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(x).items() if not k.startswith("time/")}
            for x in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("SENT_HARNESS_CACHE", str(tmp_path_factory.getbasetemp() / "sent-harness-cache"))
    d = tmp_path_factory.mktemp("cur") / "full"
    try:
        trainer.run(smoke(*CUR), d)
    finally:
        mp.undo()
    return d


def test_stages_in_every_log_and_semantic_entropy_jsonl(full_run):
    train = _lines(full_run / "train.jsonl")
    assert [r["stage"] for r in train] == [1, 1, 1, 2, 2, 2]
    assert all(r["epoch"] in (0, 1) for r in train)
    stats = _lines(full_run / "token_stats.jsonl")
    assert all(r["stage"] == (1 if r["step"] <= 3 else 2) for r in stats)
    se = _lines(full_run / "semantic_entropy.jsonl")
    assert len(se) == 12 and [r["stage"] for r in se] == [1] * 6 + [2] * 6
    assert [r["semantic_entropy"] for r in se] == sorted(r["semantic_entropy"] for r in se)
    meta = json.loads((full_run / "meta.json").read_text())
    assert meta["curriculum"] == "semantic_entropy" and meta["curriculum_stages"] == 2
    # stage 2's reference is the policy at the end of stage 1 (saved for resuming)
    ref = torch.load(full_run / "checkpoints" / "reference_stage2.pt", weights_only=True)
    assert set(ref) == set(torch.load(full_run / "checkpoints" / "last.pt", weights_only=True)["model"])


def test_each_step_trains_on_its_stage(full_run):
    """Re-derive each step's prompts from the plan: stage 1 steps only see stage-1 prompts."""
    from core.curriculum import CurriculumPlan

    se = _lines(full_run / "semantic_entropy.jsonl")
    stages = [[r["id"] for r in se if r["stage"] == k] for k in (1, 2)]
    plan = CurriculumPlan.from_stages(stages, 6)
    for step in range(1, 7):
        ids, _ = plan.batch(step, 4, seed=0)
        assert set(ids) <= set(stages[plan.stage_at(step) - 1])


def test_sigkill_in_stage_2_then_resume_is_identical(full_run, tmp_path, _private_cache):
    env = {**os.environ, "SENT_HARNESS_CACHE": str(_private_cache), trainer.KILL_ENV: "5"}
    cmd = [sys.executable, "sweep.py", "preset=smoke", *CUR, f"runs_root={tmp_path}", "backend.progress=false"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    (d,) = [p for p in (tmp_path / "default").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert [r["step"] for r in _lines(d / "train.jsonl")] == [1, 2, 3, 4, 5]
    assert torch.load(d / "checkpoints" / "last.pt", weights_only=True)["step"] == 4   # inside stage 2
    trainer.run(smoke(*CUR), d)
    assert _lines(d / "train.jsonl") == _lines(full_run / "train.jsonl")
    assert (d / "semantic_entropy.jsonl").read_text() == (full_run / "semantic_entropy.jsonl").read_text()


def test_missing_stage_reference_is_a_clear_error(full_run, tmp_path):
    import shutil

    d = tmp_path / "r"
    shutil.copytree(full_run, d)
    (d / "DONE").unlink()
    ck = torch.load(d / "checkpoints" / "last.pt", weights_only=True)
    ck["step"] = 5
    torch.save(ck, d / "checkpoints" / "last.pt")
    (d / "checkpoints" / "reference_stage2.pt").unlink()
    with pytest.raises(RuntimeError, match="reference_stage2.pt is missing"):
        trainer.run(smoke(*CUR), d)
