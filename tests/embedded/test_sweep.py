"""End to end on the smoke preset: the run-log contract, skipping, resume after SIGKILL, determinism,
and the clear errors for bad input."""

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
from core.embedded.model import ModelSpec, base_model, cache_root
from tests.embedded.conftest import REPO, compose, smoke

SYNTH = [f"synth_{i}" for i in range(1, 7)]


def _train_lines(run_dir: Path) -> list[dict]:
    """train.jsonl without the wall-clock metrics (time/...)."""
    return [{k: v for k, v in json.loads(x).items() if not k.startswith("time/")}
            for x in (run_dir / "train.jsonl").read_text().splitlines()]


def _samples(run_dir: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((run_dir / "samples").glob("*.jsonl"))}


@pytest.fixture(scope="module")
def grid(tmp_path_factory, cache_dir):
    """``python sweep.py -m method=grpo,sent seed=0 preset=smoke``: the real entry point, basic launcher."""
    root = tmp_path_factory.mktemp("runs")
    env = {**os.environ, "SENT_HARNESS_CACHE": str(cache_dir)}
    cmd = [sys.executable, "sweep.py", "-m", "method=grpo,sent", "seed=0", "preset=smoke", f"runs_root={root}",
           "backend.progress=false"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "default", cmd, env, proc


def test_grid_writes_the_run_log_contract(grid):
    sweep_dir, _, _, proc = grid
    runs = sorted(p.name for p in sweep_dir.iterdir() if not p.name.startswith("."))
    assert runs == ["method=grpo,preset=smoke,seed=0", "method=sent,preset=smoke,seed=0"]
    assert "only its token-level loss is trained" not in proc.stderr  # curriculum=auto: sent gets its curriculum
    cfg = smoke()
    for name in runs:
        d = sweep_dir / name
        meta = json.loads((d / "meta.json").read_text())
        assert meta["method"] == name.split(",")[0].split("=")[1] and meta["backend"] == "embedded"
        sent = meta["method"] == "sent"  # method=sent turns the semantic-entropy curriculum on by default
        assert meta["model"] == "tiny"
        assert (meta["curriculum"], meta["curriculum_stages"]) == (("semantic_entropy", 2) if sent else ("none", 1))
        assert (d / "semantic_entropy.jsonl").exists() == sent
        import yaml

        conf = yaml.safe_load((d / "config.yaml").read_text())
        assert conf["method"]["name"] == meta["method"] and conf["eval"]["benchmarks"] == SYNTH
        assert conf["seed"] == 0 and conf["backend"]["name"] == "embedded"
        assert conf["curriculum"]["stages"] == meta["curriculum_stages"]
        lines = _train_lines(d)
        assert [r["step"] for r in lines] == list(range(1, cfg.train.steps + 1))
        assert [r["stage"] for r in lines] == sorted(r["stage"] for r in lines)  # stages run in order
        for r in lines:
            assert r["stage"] in ((1, 2) if sent else (1,)) and r["epoch"] == 0
            for key in ("train/reward", "train/acc", "train/entropy", "train/response_len", "train/pg_loss",
                        "train/loss", "train/grad_norm", "train/lr"):
                assert isinstance(r[key], float), key
        if meta["method"] == "sent":
            assert "train/kl" in lines[0] and 0 < lines[0]["method/low_frac"] <= 0.8
        stats = [json.loads(x) for x in (d / "token_stats.jsonl").read_text().splitlines()]
        assert sum(stats[0]["entropy_hist"]["counts"]) > 0
        assert ("cov_hist" in stats[0]) == (meta["method"] == "sent")
        assert any("high_entropy_tokens" in s for s in stats)
        evals = sorted({0, *range(cfg.eval.every, cfg.train.steps + 1, cfg.eval.every)})
        for b in SYNTH:
            recs = [json.loads(x) for x in (d / "samples" / f"{b}.jsonl").read_text().splitlines()]
            assert sorted({r["eval_step"] for r in recs}) == evals
            for s in evals:  # eval.n_final samples at step 0 and the last step (what the tables read)
                n = cfg.eval.n_final if s in (0, cfg.train.steps) else cfg.eval.n
                assert sorted((r["problem_id"], r["sample"]) for r in recs if r["eval_step"] == s) == \
                    sorted((f"{b}/{i}", j) for i in range(cfg.eval.limit) for j in range(n))
            assert set(recs[0]) == {"eval_step", "problem_id", "sample", "correct", "length", "answer"}
        done = json.loads((d / "DONE").read_text())
        assert done["steps"] == cfg.train.steps and set(done["eval"]) == set(SYNTH)
        assert cfg.eval.n < cfg.eval.n_final and f"pass@{cfg.eval.n_final}" in done["eval"]["synth_1"]


def test_runs_record_their_per_scale_settings(grid):
    """meta.json and the run's log name the sweeps/method_scale/ file merged into the method (docs/calibration.md)."""
    root, _, _, proc = grid
    meta = json.loads((root / "method=sent,preset=smoke,seed=0" / "meta.json").read_text())
    assert meta["method_scale"]["file"] == "sweeps/method_scale/tiny_sent.yaml"
    assert meta["method_scale"]["values"]["count_rounding"] == "expected"
    assert meta["method_scale"]["defaults"]["count_rounding"] == "floor" and meta["method_scale"]["why"]
    assert ("[method_scale] sweeps/method_scale/tiny_sent.yaml: count_rounding floor -> expected "
            "(docs/calibration.md)") in proc.stderr
    assert ("[method_scale] sweeps/method_scale/tiny_sent.yaml: high_cov_frac 0.0002 (the paper's value) "
            "(calibration rule F, docs/calibration.md)") in proc.stderr
    assert "method_scale" not in json.loads((root / "method=grpo,preset=smoke,seed=0" / "meta.json").read_text())


def test_relaunch_skips_finished_runs(grid):
    sweep_dir, cmd, env, _ = grid
    before = {p: p.stat().st_mtime_ns for p in sweep_dir.rglob("*") if p.is_file() and ".hydra" not in p.parts}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("DONE exists: skipping") == 2
    after = {p: p.stat().st_mtime_ns for p in sweep_dir.rglob("*") if p.is_file() and ".hydra" not in p.parts}
    assert after == before


def test_same_seed_same_metrics_and_seed_changes_sampling(grid, tmp_path):
    sweep_dir = grid[0]
    a = sweep_dir / "method=grpo,preset=smoke,seed=0"
    trainer.run(smoke("method=grpo", "seed=0"), tmp_path / "again")
    assert _train_lines(tmp_path / "again") == _train_lines(a)
    assert _samples(tmp_path / "again") == _samples(a)
    trainer.run(smoke("method=grpo", "seed=1"), tmp_path / "seed1")
    assert _samples(tmp_path / "seed1")["synth_1.jsonl"] != _samples(a)["synth_1.jsonl"]  # eval sampling differs


def test_sigkill_then_resume_continues_exactly(grid, tmp_path, cache_dir):
    """Killed (SIGKILL) after logging step 3 with the last checkpoint at step 2: the relaunch drops
    step 3's lines, resumes from step 2 and ends identical to the uninterrupted run."""
    ref = grid[0] / "method=sent,preset=smoke,seed=0"
    env = {**os.environ, "SENT_HARNESS_CACHE": str(cache_dir), trainer.KILL_ENV: "3"}
    cmd = [sys.executable, "sweep.py", "method=sent", "seed=0", "preset=smoke", f"runs_root={tmp_path}",
           "backend.progress=false"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    d = tmp_path / "default" / "method=sent,preset=smoke,seed=0"
    assert [r["step"] for r in _train_lines(d)] == [1, 2, 3] and not (d / "DONE").exists()
    assert torch.load(d / "checkpoints" / "last.pt", weights_only=True)["step"] == 2
    trainer.run(smoke("method=sent", "seed=0"), d)
    assert _train_lines(d) == _train_lines(ref)
    assert _samples(d) == _samples(ref)
    stats = [json.loads(x)["step"] for x in (d / "token_stats.jsonl").read_text().splitlines()]
    assert stats == sorted(set(stats))


# ---- bad input -------------------------------------------------------------------------------

def _sweep_error(*args: str) -> str:
    proc = subprocess.run([sys.executable, "sweep.py", *args, "--cfg", "job"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    return proc.stderr


def test_unknown_method_or_preset_lists_the_valid_choices():
    err = _sweep_error("method=sentt")
    assert "Could not find 'method/sentt'" in err and "high_en" in err and "low_cov" in err
    err = _sweep_error("preset=huge")
    assert "Could not find 'preset/huge'" in err and "smoke" in err


def test_unknown_method_hyperparameter_is_rejected():
    with pytest.raises(Exception, match="entropy_coeff"):
        compose("method=en", "method.entropy_coeff=0.1")


@pytest.mark.parametrize("override, message", [
    ("train.group_size=1", "group_size=1 must be >= 2"),
    ("train.steps=0", "steps=0 must be >= 1"),
    ("train.mini_batch_prompts=3", "must divide"),
    ("model.num_heads=5", "multiple of model.num_heads"),
    ("model.num_kv_heads=0", "num_kv_heads=0 must be >= 1"),  # before any divisibility check divides by it
    ("method.clip_ratio_low=-1", "clip_ratio_low=-1.0 must be >= 0"),
    ("eval.k=[1,8]", r"k=\[8\] exceed the samples per problem"),
    ("eval.n_final=0", "eval.n_final=0 must be >= 1"),
    ("eval.n_final=16.5", "eval.n_final=16.5: must be integers"),
    ("train.length_buckets=2.0", "train.length_buckets=2.0 must be an integer"),
])
def test_impossible_sizes_fail_before_training(tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        trainer.run(smoke(override), tmp_path / "r")
    assert not (tmp_path / "r" / "train.jsonl").exists()


@pytest.mark.parametrize("override, message", [("curriculum.stages=0", "must be an integer >= 1"),
                                               ("curriculum.m=1", "at least 2 samples")])
def test_bad_curriculum_fails_before_training(tmp_path, override, message):
    """The curriculum itself is tested in tests/curriculum/test_trainer.py."""
    with pytest.raises(ValueError, match=message):
        trainer.run(smoke("method=sent", "curriculum=semantic_entropy", override), tmp_path / "r")
    assert not (tmp_path / "r" / "train.jsonl").exists()


def test_corrupt_cached_base_model_is_rebuilt(grid):
    spec = ModelSpec.from_cfg(smoke().model)
    base_model(spec, progress=False, rebuild=True)  # the recipe's build, cached (not the shipped weights)
    path = cache_root() / "base" / spec.key() / "model.pt"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.warns(UserWarning, match="unusable"):
        model = base_model(spec, progress=False, rebuild=True)
    assert path.read_bytes() == good  # the build is deterministic
    assert sum(p.numel() for p in model.parameters()) > 0


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    d = tmp_path / "r"
    (d / "checkpoints").mkdir(parents=True)
    (d / "checkpoints" / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="cannot resume from .*Delete the run directory"):
        trainer.run(smoke(), d)


def test_embedded_generator_loads_a_checkpoint(grid):
    """``make_generator("embedded", model_path=...)`` (what ``python -m core.eval`` uses)."""
    from core.eval.generation import make_generator

    gen = make_generator("embedded", model_path=str(grid[0] / "method=grpo,preset=smoke,seed=0/checkpoints/last.pt"))
    out = gen.generate(["1+2+3\n", "4+5+6\n"], 3, max_new_tokens=8, temperature=1.0, top_p=1.0, seed=0)
    assert [len(o) for o in out] == [3, 3]
    assert all(0 < g.num_tokens <= 8 and g.logprob <= 0 for o in out for g in o)
    with pytest.raises(ValueError, match="cannot load an embedded model"):
        make_generator("embedded", model_path=str(grid[0]))


def test_memoised_generations_equal_fresh_ones_and_survive_a_corrupt_file(grid, tmp_path, monkeypatch):
    """The step-0 memo (EmbeddedGenerator(memo_dir=...)): same generations as sampling, reused, rebuilt
    when its file is damaged."""
    from core.embedded.generator import EmbeddedGenerator

    ckpt = str(grid[0] / "method=grpo,preset=smoke,seed=0/checkpoints/last.pt")
    kw = dict(max_new_tokens=8, temperature=1.0, top_p=1.0, seed=5)
    fresh = EmbeddedGenerator(ckpt).generate(["1+2+3\n", "4+5+6\n"], 3, **kw)
    memo = EmbeddedGenerator(ckpt, memo_dir=tmp_path / "memo")
    assert memo.generate(["1+2+3\n", "4+5+6\n"], 3, **kw) == fresh
    (path,) = (tmp_path / "memo").glob("*.json")
    monkeypatch.setattr(EmbeddedGenerator, "_generate", lambda *a, **k: pytest.fail("sampled again"))
    assert memo.generate(["1+2+3\n", "4+5+6\n"], 3, **kw) == fresh  # read back, not sampled
    monkeypatch.undo()
    path.write_text('[["truncated')
    assert memo.generate(["1+2+3\n", "4+5+6\n"], 3, **kw) == fresh
    assert json.loads(path.read_text())  # rewritten whole


def test_evaluation_sizes_per_step(tmp_path):
    """eval.n_final at step 0 and the last step, eval.n in between; each step summarises the ks its n
    admits (pass@1 when none does)."""
    run = trainer._Run(smoke("eval.n=2", "eval.n_final=8", "eval.k=[1,2,8]", "train.steps=6"), tmp_path / "r")
    assert [run._eval_n(s) for s in (0, 2, 6)] == [(8, (1, 2, 8)), (2, (1, 2)), (8, (1, 2, 8))]
    run = trainer._Run(smoke("eval.n=2", "eval.n_final=8", "eval.k=[8]", "train.steps=6"), tmp_path / "s")
    assert run._eval_n(2) == (2, (1,))
    run = trainer._Run(smoke("eval.n=3", "eval.n_final=null", "eval.k=[1,2]"), tmp_path / "t")
    assert run._eval_n(0) == run._eval_n(1) == (3, (1, 2))  # null: eval.n everywhere


def test_base_model_is_built_with_its_own_thread_count(tmp_path, monkeypatch):
    """The thread count changes float summation order, hence the weights: the build uses
    model.sft_threads whatever the caller set, and gives the caller its own count back."""
    from core.embedded import model as M

    seen = []
    real_sft = M.sft
    monkeypatch.setattr(M, "sft", lambda m, spec, progress=True: seen.append(torch.get_num_threads())
                        or real_sft(m, spec, progress))
    spec = ModelSpec(hidden_size=16, num_layers=1, intermediate_size=32, num_heads=2, num_kv_heads=1, sft_steps=2,
                     sft_batch=4, sft_threads=1)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        monkeypatch.setenv("SENT_HARNESS_CACHE", str(tmp_path))
        M.base_model(spec, progress=False)
        assert seen == [1] and torch.get_num_threads() == 2
        with pytest.raises(ValueError, match="sft_threads=0 must be >= 1"):
            ModelSpec(sft_threads=0).validate()
    finally:
        torch.set_num_threads(before)
