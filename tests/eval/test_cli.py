"""``python -m core.eval`` and the generator registry / vLLM backend."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from core.eval import cli
from core.eval.evaluation import read_samples
from core.eval.generation import (
    GPU_EXTRA_HINT,
    Generation,
    Generator,
    VLLMGenerator,
    generator_names,
    make_generator,
    register_generator,
)

HAVE_VLLM = importlib.util.find_spec("vllm") is not None


class EchoGenerator:
    """Answers every prompt with a box holding the prompt's length mod 3 (deterministic)."""

    def __init__(self, model_path: str, answer: str | None = None):
        self.model_path = model_path
        self.answer = answer

    def generate(self, prompts, n, *, max_new_tokens, temperature, top_p, seed):
        return [[Generation(f"\\boxed{{{self.answer or len(p) % 3}}}", num_tokens=5 + j) for j in range(n)]
                for p in prompts]


register_generator("test_echo", EchoGenerator)


def test_generator_registry():
    assert {"vllm", "test_echo"} <= set(generator_names())
    gen = make_generator("test_echo", model_path="m", answer="204")
    assert isinstance(gen, Generator)
    with pytest.raises(ValueError, match="already registered"):
        register_generator("test_echo", EchoGenerator)
    with pytest.raises(KeyError, match="Did you mean 'vllm'"):
        make_generator("vlm", model_path="m")


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    rc = cli.main(["--model", str(tmp_path / "ckpt" / "global_step_40"), "--out", str(out), "--dry-run",
                   "--limit", "3", "--gen-arg", "tensor_parallel_size=2"])
    text = capsys.readouterr().out
    assert rc == 0
    assert not out.exists()
    assert "eval_step=40" in text and "k=[1, 8, 16, 32]" in text
    assert "tensor_parallel_size=2" in text
    for key in ("aime24", "aime25", "amc23", "math500", "olympiadbench", "minerva"):
        assert f"{key}" in text
    assert "3 problems x 32 =      96 samples" in text
    assert "Please reason step by step, and put your final answer within \\boxed{}." in text
    if not HAVE_VLLM:
        assert GPU_EXTRA_HINT in text


def test_cli_errors(tmp_path):
    base = ["--model", "m", "--out", str(tmp_path)]
    for extra in (["--benchmarks", "aime2024"], ["--n", "4", "--k", "8"], ["--backend", "vlm"], ["--limit", "0"],
                  ["--k", "1,x"]):
        with pytest.raises(SystemExit) as info:
            cli.main(base + extra + ["--dry-run"])
        assert info.value.code == 2


def test_full_run_with_a_registered_backend(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--model", str(tmp_path / "global_step_12"), "--backend", "test_echo", "--out", str(out),
            "--benchmarks", "aime24,aime25", "--n", "2", "--limit", "4", "--no-progress", "--gen-arg", "answer=70"]
    assert cli.main(argv) == 0
    table = capsys.readouterr().out
    assert "| aime25 |" in table
    aime25 = read_samples(out / "samples" / "aime25.jsonl")
    assert len(aime25) == 8 and {r["eval_step"] for r in aime25} == {12}
    assert [r["correct"] for r in aime25] == [True, True] + [False] * 6  # aime25 #0's answer is 70
    summary = json.loads((out / "eval_summary.json").read_text())
    assert summary["12"]["summary"]["aime25"]["pass@1"] == pytest.approx(0.25)
    assert summary["12"]["settings"]["n"] == 2
    # the same step again: records replaced, summary updated in place
    assert cli.main(argv) == 0
    assert len(read_samples(out / "samples" / "aime25.jsonl")) == 8


def test_infer_eval_step():
    assert cli.infer_eval_step("/ckpts/run/global_step_200/actor/huggingface") == 200
    assert cli.infer_eval_step("Qwen/Qwen2.5-Math-7B") == 0


@pytest.mark.skipif(HAVE_VLLM, reason="vllm is installed here")
def test_vllm_missing_names_the_gpu_extra(tmp_path, capsys):
    with pytest.raises(ImportError, match=r"pip install -e \.\[gpu\]"):
        VLLMGenerator("some/model")
    rc = cli.main(["--model", "m", "--out", str(tmp_path), "--benchmarks", "aime24", "--limit", "1"])
    assert rc == 2
    assert GPU_EXTRA_HINT in capsys.readouterr().err


def test_module_entry_point_from_another_cwd(tmp_path):
    out = subprocess.run([sys.executable, "-m", "core.eval", "--model", "m", "--out", str(tmp_path / "o"),
                          "--benchmarks", "amc23", "--dry-run"], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0, out.stderr
    assert "amc23" in out.stdout and "40 problems x 32" in out.stdout


@pytest.mark.gpu
@pytest.mark.skipif(not (HAVE_VLLM and os.environ.get("SENT_EVAL_TEST_MODEL")),
                    reason="needs vllm and SENT_EVAL_TEST_MODEL=<small HF model dir> on a GPU machine")
def test_vllm_generator_on_gpu():
    gen = VLLMGenerator(os.environ["SENT_EVAL_TEST_MODEL"], logprobs=True, gpu_memory_utilization=0.5)
    from core.eval.prompts import build_prompt

    prompts = [build_prompt("What is 2+3?", gen.tokenizer), build_prompt("What is 7*6?", gen.tokenizer)]
    out = gen.generate(prompts, 3, max_new_tokens=64, temperature=1.0, top_p=1.0, seed=0)
    assert len(out) == 2 and all(len(g) == 3 for g in out)
    assert all(0 < s.num_tokens <= 64 and s.logprob is not None and s.logprob <= 0 for g in out for s in g)
