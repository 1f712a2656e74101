"""The verl backend's pieces that need no verl import: data conversion, reward, metrics, run flow."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.cluster.conftest import make_cfg

verl_data = pytest.importorskip("core.verl.data")
verl_metrics = pytest.importorskip("core.verl.metrics")


# ---------------------------------------------------------------- data -------------------------

def test_benchmark_to_verl_parquet(tmp_path):
    from core.eval.benchmarks import load_benchmark
    from core.eval.prompts import PAPER_TEMPLATE

    path = verl_data.dataset_file("aime24", tmp_path, split="test")
    rows = verl_data.read_rows(path)
    problems = load_benchmark("aime24")
    assert len(rows) == len(problems) == 30
    r, p = rows[3], problems[3]
    assert r["data_source"] == "aime24"
    assert r["prompt"] == [{"role": "user", "content": PAPER_TEMPLATE.format(question=p.question)}]
    assert r["prompt"][0]["content"].endswith("put your final answer within \\boxed{}.")
    assert r["reward_model"] == {"style": "rule", "ground_truth": p.answer}
    assert r["extra_info"]["id"] == p.id and r["extra_info"]["index"] == 3
    # cached: the same recipe gives the same file, not rewritten
    mtime = path.stat().st_mtime_ns
    assert verl_data.dataset_file("aime24", tmp_path, split="test") == path
    assert path.stat().st_mtime_ns == mtime


def test_verl_reads_our_parquet(tmp_path):
    """verl's RLHFDataset reads the rows and applies a chat template to the prompt."""
    pytest.importorskip("verl")
    from transformers import PreTrainedTokenizerFast
    from tokenizers import Tokenizer, models, pre_tokenizers
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    vocab = {"[UNK]": 0, "<pad>": 1, "<eos>": 2}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", unk_token="[UNK]")
    hf.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    path = verl_data.dataset_file("amc23", tmp_path, split="test")
    ds = RLHFDataset(data_files=[str(path)], tokenizer=hf,
                     config=OmegaConf.create({"prompt_key": "prompt", "max_prompt_length": 4096,
                                              "filter_overlong_prompts": False, "truncation": "error",
                                              "return_raw_chat": True}))
    assert len(ds) == 40
    item = ds[0]
    assert item["data_source"] == "amc23" and item["reward_model"]["ground_truth"]


def test_stage_files_hold_the_curriculum_order(tmp_path):
    from core.eval.benchmarks import load_benchmark
    from core.curriculum import order_and_split

    ids = [p.id for p in load_benchmark("dapo_math_17k")]
    scores = {i: -float(n) for n, i in enumerate(ids)}  # reversed file order
    parts = order_and_split(scores, 2)
    paths = verl_data.write_stage_files("dapo_math_17k", tmp_path, parts)
    first, second = (verl_data.read_rows(p) for p in paths)
    assert len(first) == len(second) == 17290 // 2
    assert first[0]["extra_info"]["id"] == ids[-1]      # lowest score first
    assert second[-1]["extra_info"]["id"] == ids[0]     # highest score last
    assert [r["extra_info"]["id"] for r in first + second] == ids[::-1]
    with pytest.raises(ValueError, match="not problems of 'dapo_math_17k'"):
        verl_data.write_stage_files("dapo_math_17k", tmp_path / "x", [["nope"]])


# ---------------------------------------------------------------- reward -----------------------

def test_reward_is_the_graders_binary_correctness():
    from core.verl.reward import compute_score

    ok = compute_score("aime24", "so the answer is \\boxed{\\frac{1}{2}}", "0.5", extra_info={})
    bad = compute_score("aime24", "the answer is \\boxed{3}", "0.5", extra_info={})
    none = compute_score("aime24", "", "0.5")
    assert ok == {"score": 1.0, "acc": 1.0}
    assert bad == {"score": 0.0, "acc": 0.0} and none["score"] == 0.0


def test_reward_from_a_worker_thread():
    """verl calls the reward from an executor thread (math-verify's alarm needs the main thread)."""
    from concurrent.futures import ThreadPoolExecutor

    from core.verl.reward import compute_score

    with ThreadPoolExecutor(2) as ex:
        got = list(ex.map(lambda a: compute_score("x", f"\\boxed{{{a}}}", "42")["score"], ["42", "41"]))
    assert got == [1.0, 0.0]


# ---------------------------------------------------------------- metrics ----------------------

def _log(path: Path, rows: list[tuple[int, dict]], torn: str | None = None) -> Path:
    with open(path, "w") as f:
        for step, data in rows:
            f.write(json.dumps({"step": step, "data": data}) + "\n")
        if torn:
            f.write(torn)
    return path


def test_metrics_conversion_keys():
    row = verl_metrics.convert_record({
        "critic/score/mean": 0.25, "response_length/mean": 812.0, "actor/grad_norm": 0.5, "actor/lr": 1e-6,
        "actor/train/entropy": 0.41, "actor/train/pg_loss": -0.01, "actor/train/kl": 0.002,
        "actor/method/low_frac": 0.8, "timing_s/gen": 30.0, "timing_s/step": 60.0, "timing_s/ref": 5.0,
        "actor/entropy": 0.45, "training/global_step": 3, "training/epoch": 0, "val-core/x": "text"})
    assert row == {"train/reward": 0.25, "train/acc": 0.25, "train/response_len": 812.0, "train/grad_norm": 0.5,
                   "train/lr": 1e-6, "train/entropy": 0.41, "train/pg_loss": -0.01, "train/kl": 0.002,
                   "method/low_frac": 0.8, "time/rollout": 30.0, "time/step": 60.0, "time/ref": 5.0,
                   "verl/actor/entropy": 0.45}


def test_resumed_attempts_merge_without_duplicates(tmp_path):
    """Attempt 0 logged steps 1-3 (checkpoint at 2), was requeued; attempt 1 re-ran 3 and went on."""
    a0 = _log(tmp_path / "verl_metrics.0.jsonl",
              [(1, {"critic/score/mean": 0.1, "training/epoch": 0}), (2, {"critic/score/mean": 0.2}),
               (3, {"critic/score/mean": 0.99})], torn='{"step": 4, "da')
    a1 = _log(tmp_path / "verl_metrics.1.jsonl",
              [(3, {"critic/score/mean": 0.3, "training/epoch": 1}), (4, {"critic/score/mean": 0.4, "training/epoch": 1})])
    rows = verl_metrics.convert_files([a0, a1], stage=2, step_offset=10, updates_per_step=2)
    assert [r["step"] for r in rows] == [11, 12, 13, 14]
    assert [r["train/reward"] for r in rows] == [0.1, 0.2, 0.3, 0.4]  # step 3 from the later attempt
    assert [r["epoch"] for r in rows] == [0, 0, 1, 1]
    assert rows[0]["stage"] == 2 and rows[-1]["optimizer_step"] == 28


def test_corrupt_middle_line_is_an_error(tmp_path):
    p = tmp_path / "verl_metrics.0.jsonl"
    p.write_text('{"step": 1, "data": {}}\nnot json\n{"step": 2, "data": {}}\n')
    with pytest.raises(ValueError, match=":2: not JSON"):
        verl_metrics.read_verl_log(p)


# ---------------------------------------------------------------- run flow ---------------------

FAKE_MAIN_PPO = r'''
import json, os, sys
from pathlib import Path
from omegaconf import OmegaConf
cfg = OmegaConf.load(Path(sys.argv[1].split("=", 1)[1]) / "ppo_trainer.yaml")
ckpt = Path(cfg.trainer.default_local_dir)
steps = int(os.environ["FAKE_STEPS"])
tracker = ckpt / "latest_checkpointed_iteration.txt"
start = int(tracker.read_text()) if tracker.exists() else 0
log = open(os.environ["VERL_FILE_LOGGER_PATH"], "w")  # verl's FileLogger truncates too
for s in range(start + 1, steps + 1):
    log.write(json.dumps({"step": s, "data": {"critic/score/mean": s / 10, "training/epoch": 0,
                          "actor/method/low_frac": 0.8, "model": cfg.actor_rollout_ref.model.path}}) + "\n")
    log.flush()
    if s % cfg.trainer.save_freq == 0 or s == steps:
        hf = ckpt / f"global_step_{s}" / "actor" / "huggingface"
        hf.mkdir(parents=True, exist_ok=True)
        (hf / "config.json").write_text("{}")
        tracker.write_text(str(s))
    if s == int(os.environ.get("FAKE_CRASH_AT", "-1")):
        sys.exit(3)
'''

FAKE_EVAL = r'''
import json, sys
from pathlib import Path
a = dict(zip(sys.argv[1::2], sys.argv[2::2]))
out = Path(a["--out"]) / "samples"
out.mkdir(parents=True, exist_ok=True)
with open(out / "aime24.jsonl", "a") as f:
    f.write(json.dumps({"eval_step": int(a["--eval-step"]), "problem_id": "0", "sample": 0, "correct": True,
                        "length": 5, "answer": "1", "model": a["--model"]}) + "\n")
'''


def test_run_flow_resume_stages_convert_evaluate(tmp_path, monkeypatch):
    """The orchestration with stand-ins for main_ppo and core.eval.cli: two curriculum stages, a crash
    in stage 1 after its step-2 checkpoint, a relaunch that resumes, then evaluation and DONE."""
    vb = pytest.importorskip("core.verl.backend")
    pytest.importorskip("core.runlog")  # the shared run-log writer (embedded-backend issue)
    (tmp_path / "main_ppo.py").write_text(FAKE_MAIN_PPO)
    (tmp_path / "evaluate.py").write_text(FAKE_EVAL)
    monkeypatch.setattr(vb, "launch_command", lambda sp: [sys.executable, str(tmp_path / "main_ppo.py"),
                                                          f"--config-path={sp.stage_dir}"])
    real_eval = vb.eval_command
    monkeypatch.setattr(vb, "eval_command", lambda cfg, m, out, step: [sys.executable, str(tmp_path / "evaluate.py")]
                        + real_eval(cfg, m, out, step)[3:])
    monkeypatch.setattr(vb, "_require_gpu_stack", lambda: None)
    scores = tmp_path / "se.jsonl"
    from core.eval.benchmarks import load_benchmark

    scores.write_text("".join(json.dumps({"id": p.id, "semantic_entropy": i % 7}) + "\n"
                              for i, p in enumerate(load_benchmark("dapo_math_17k"))))
    cfg = make_cfg("r1_distill_qwen_1p5b", "sent", runs_root=str(tmp_path / "runs"), curriculum="semantic_entropy")
    cfg.curriculum.stages, cfg.curriculum.scores_path = 2, str(scores)
    cfg.backend.save_freq = 2
    cfg.backend.eval.every = 2
    run_dir = tmp_path / "runs" / "test" / "method=sent"
    monkeypatch.setenv("FAKE_STEPS", "3")
    monkeypatch.setenv("FAKE_CRASH_AT", "2")
    with pytest.raises(RuntimeError, match="main_ppo failed"):
        vb.run(cfg, run_dir=run_dir)
    assert not (run_dir / "DONE").exists()
    monkeypatch.delenv("FAKE_CRASH_AT")
    done = vb.run(cfg, run_dir=run_dir)  # the requeued job
    rows = [json.loads(x) for x in (run_dir / "train.jsonl").read_text().splitlines()]
    assert [(r["step"], r["stage"]) for r in rows] == [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2), (6, 2)]
    assert [r["train/reward"] for r in rows] == [0.1, 0.2, 0.3, 0.1, 0.2, 0.3]
    # stage 2 trained from stage 1's final checkpoint
    s2 = (run_dir / "verl" / "stage2" / "ppo_trainer.yaml").read_text()
    assert str(run_dir / "checkpoints" / "stage1" / "global_step_3" / "actor" / "huggingface") in s2
    samples = [json.loads(x) for x in (run_dir / "samples" / "aime24.jsonl").read_text().splitlines()]
    # checkpoints at global steps 2, 3 (stage 1) and 5, 6 (stage 2): base model (0), every 2 steps
    # among them (2, 6), and the final checkpoint (6 = stage 2's step 3)
    assert [s["eval_step"] for s in samples] == [0, 2, 6]
    assert samples[-1]["model"].endswith("stage2/global_step_3/actor/huggingface")
    assert done["steps"] == 6 and (run_dir / "DONE").exists()
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["backend"] == "verl" and meta["method"] == "sent" and meta["curriculum_stages"] == 2
    assert (run_dir / "config.yaml").exists()
    # config.yaml's eval is the evaluation the run performed (backend.eval, SENT Table XI), not the embedded block
    recorded = OmegaConf.load(run_dir / "config.yaml").eval
    assert recorded.n == 32 and list(recorded.k) == [1, 8, 16, 32] and recorded.every == 2
    assert recorded.max_new_tokens == 8000 and recorded.limit is None and len(recorded.benchmarks) == 6
    assert cfg.eval.n == 4  # the composed config itself is left as composed
    # a finished run is skipped
    assert vb.run(cfg, run_dir=run_dir) == done
