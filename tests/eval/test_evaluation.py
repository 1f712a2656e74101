"""The evaluation loop end to end with a deterministic fake generator, and the sample files."""

from __future__ import annotations

import json
import threading

import pytest

from core.metrics import mean_pass_at_k
from core.eval.benchmarks import load_benchmark
from core.eval.evaluation import (
    DEFAULT_K,
    RECORD_KEYS,
    evaluate,
    read_samples,
    resolve_ks,
    summarize,
    write_records,
)
from core.eval.generation import Generation
from core.eval.prompts import build_prompt

SAMPLING = {"temperature": 1.0, "top_p": 1.0}  # the paper's (Table XI); evaluate() has no defaults


class FakeGenerator:
    """Problem i (in prompt order) gets a correct boxed answer in its first ``i % (n+1)`` samples
    and a wrong one after; sample j has 10*(j+1) tokens. Gold answers come from ``answers``."""

    def __init__(self, answers_by_prompt: dict[str, str]):
        self.answers_by_prompt = answers_by_prompt
        self.calls: list[dict] = []

    def generate(self, prompts, n, *, max_new_tokens, temperature, top_p, seed):
        self.calls.append(dict(prompts=list(prompts), n=n, max_new_tokens=max_new_tokens,
                               temperature=temperature, top_p=top_p, seed=seed))
        out = []
        for i, prompt in enumerate(prompts):
            gold = self.answers_by_prompt[prompt]
            n_correct = i % (n + 1)
            out.append([
                Generation(
                    text=f"Reasoning... so the answer is $\\boxed{{{gold if j < n_correct else 'WRONG' + str(j)}}}$.",
                    num_tokens=10 * (j + 1),
                )
                for j in range(n)
            ])
        return out


def make_fake(keys, tokenizer=None):
    answers = {build_prompt(p.question, tokenizer): p.answer for key in keys for p in load_benchmark(key)}
    return FakeGenerator(answers)


def expected_counts(num_problems: int, n: int) -> list[int]:
    return [i % (n + 1) for i in range(num_problems)]


def test_evaluate_end_to_end(tmp_path):
    keys = ["aime24", "amc23"]
    gen = make_fake(keys)
    n = 4
    summary = evaluate(gen, keys, run_dir=tmp_path, eval_step=7, n=n, max_new_tokens=123, **SAMPLING,
                       seed=3, k=(1, 2, 4), progress=False)
    # the generator saw the paper's prompts and the sampling settings
    assert gen.calls[0]["prompts"][0] == build_prompt(load_benchmark("aime24")[0].question)
    assert {c["n"] for c in gen.calls} == {4}
    assert gen.calls[0]["max_new_tokens"] == 123 and gen.calls[0]["seed"] == 3
    assert gen.calls[0]["temperature"] == 1.0 and gen.calls[0]["top_p"] == 1.0
    for key in keys:
        problems = load_benchmark(key)
        records = read_samples(tmp_path / "samples" / f"{key}.jsonl")
        assert len(records) == len(problems) * n
        assert all(tuple(r) == RECORD_KEYS for r in records)
        assert [r["problem_id"] for r in records[:: n]] == [p.id for p in problems]
        assert [r["sample"] for r in records[:n]] == list(range(n))
        assert {r["eval_step"] for r in records} == {7}
        assert records[1]["length"] == 20
        counts = expected_counts(len(problems), n)
        got = [sum(r["correct"] for r in records[i * n:(i + 1) * n]) for i in range(len(problems))]
        assert got == counts
        assert records[n]["answer"] == problems[1].answer  # problem 1: first sample correct
        assert records[n + 1]["answer"] == "WRONG1"
        # the summary equals what analysis recomputes from the records
        assert summarize(records, (1, 2, 4)) == summary[key]
        for k in (1, 2, 4):
            assert summary[key][f"pass@{k}"] == pytest.approx(mean_pass_at_k([n] * len(counts), counts, k))
            assert summary[key][f"avg@{k}"] == pytest.approx(sum(counts) / (n * len(counts)))
            assert summary[key][f"len@{k}"] == pytest.approx(25.0)
        assert set(summary[key]) == {f"{m}@{k}" for m in ("pass", "avg", "len") for k in (1, 2, 4)}


def test_rerun_replaces_records_of_the_same_step(tmp_path):
    gen = make_fake(["aime24"])
    path = tmp_path / "samples" / "aime24.jsonl"
    evaluate(gen, ["aime24"], run_dir=tmp_path, eval_step=0, n=2, max_new_tokens=8, **SAMPLING, progress=False)
    evaluate(gen, ["aime24"], run_dir=tmp_path, eval_step=10, n=2, max_new_tokens=8, **SAMPLING, progress=False)
    assert len(read_samples(path)) == 2 * 30 * 2
    # a resumed run evaluates step 10 again: replaced, not duplicated; step 0 kept
    with open(path, "ab") as f:
        f.write(b'{"eval_step": 10, "problem_id": "60", "sam')  # a crash mid-line
    assert len(read_samples(path)) == 2 * 30 * 2  # the partial last line is skipped
    evaluate(gen, ["aime24"], run_dir=tmp_path, eval_step=10, n=2, max_new_tokens=8, **SAMPLING, progress=False)
    records = read_samples(path)
    assert len(records) == 2 * 30 * 2
    assert [r["eval_step"] for r in records] == [0] * 60 + [10] * 60
    assert path.read_bytes().endswith(b"\n")
    assert not (tmp_path / "samples" / "aime24.jsonl.tmp").exists()


def test_write_records_repairs_a_partial_last_line_before_appending(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"eval_step": 1, "a": 1}\n{"eval_st')
    write_records(path, [{"eval_step": 2, "b": 2}], eval_step=2)
    assert read_samples(path) == [{"eval_step": 1, "a": 1}, {"eval_step": 2, "b": 2}]
    path.write_bytes(b'{"eval_step": 1}\nnot json\n{"eval_step": 1}\n')
    with pytest.raises(ValueError, match="x.jsonl:2"):
        read_samples(path)


def test_read_samples_tolerates_unknown_keys_and_blank_lines(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"eval_step": 0, "extra": [1]}\n\n{"eval_step": 1}\n')
    assert read_samples(path) == [{"eval_step": 0, "extra": [1]}, {"eval_step": 1}]


def test_limit_and_default_k_cut_to_n(tmp_path):
    gen = make_fake(["math500"])
    summary = evaluate(gen, ["math500"], run_dir=tmp_path, eval_step=0, n=8, max_new_tokens=8, **SAMPLING,
                       limit=5, progress=False)
    assert len(read_samples(tmp_path / "samples" / "math500.jsonl")) == 5 * 8
    assert len(gen.calls[0]["prompts"]) == 5
    assert sorted(summary["math500"]) == sorted(f"{m}@{k}" for m in ("pass", "avg", "len") for k in (1, 8))


def test_resolve_ks():
    assert resolve_ks(DEFAULT_K, 32) == (1, 8, 16, 32)
    assert resolve_ks(DEFAULT_K, 16) == (1, 8, 16)
    assert resolve_ks(DEFAULT_K, 4) == (1,)
    assert resolve_ks([4, 2, 2], 4) == (2, 4)
    with pytest.raises(ValueError, match="exceeds"):
        resolve_ks([1, 8], 4)
    with pytest.raises(ValueError):
        resolve_ks([0], 4)
    with pytest.raises(ValueError):
        resolve_ks([], 4)


def test_explicit_k_above_n_is_an_error_before_generating(tmp_path):
    gen = make_fake(["aime24"])
    with pytest.raises(ValueError, match="k=8 exceeds"):
        evaluate(gen, ["aime24"], run_dir=tmp_path, eval_step=0, n=4, max_new_tokens=8, **SAMPLING, k=(1, 8),
                 progress=False)
    assert gen.calls == []


def test_unknown_benchmark_fails_before_generating(tmp_path):
    gen = make_fake(["aime24"])
    with pytest.raises(KeyError, match="Did you mean 'aime24'"):
        evaluate(gen, ["aime24", "aime2024"], run_dir=tmp_path, eval_step=0, n=1, max_new_tokens=8, **SAMPLING,
                 progress=False)
    assert gen.calls == []


class BrokenGenerator:
    def __init__(self, per_prompt: int, drop_prompt: bool = False):
        self.per_prompt, self.drop_prompt = per_prompt, drop_prompt

    def generate(self, prompts, n, **kwargs):
        prompts = prompts[:-1] if self.drop_prompt else prompts
        return [[Generation("x", 1)] * self.per_prompt for _ in prompts]


@pytest.mark.parametrize(("gen", "match"), [(BrokenGenerator(1), "expected n=2"),
                                            (BrokenGenerator(2, drop_prompt=True), "29 results for 30")])
def test_generator_breaking_the_interface_fails_loudly(tmp_path, gen, match):
    with pytest.raises(ValueError, match=match):
        evaluate(gen, ["aime24"], run_dir=tmp_path, eval_step=0, n=2, max_new_tokens=8, **SAMPLING, progress=False)


def test_prompt_fn_and_generator_tokenizer(tmp_path):
    class Tok:
        chat_template = "x"

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            return "<user>" + messages[0]["content"] + "<assistant>"

    gen = make_fake(["aime24"], tokenizer=Tok())
    gen.tokenizer = Tok()  # evaluate uses the generator's tokenizer by default
    evaluate(gen, ["aime24"], run_dir=tmp_path, eval_step=0, n=1, max_new_tokens=8, **SAMPLING, limit=2, progress=False)
    assert gen.calls[-1]["prompts"][0].startswith("<user>Every morning")

    plain = make_fake(["aime24"])
    evaluate(plain, ["aime24"], run_dir=tmp_path, eval_step=1, n=1, max_new_tokens=8, **SAMPLING,
             limit=2, prompt_fn=lambda q: build_prompt(q), progress=False)
    assert plain.calls[-1]["prompts"][0].startswith("Every morning")


def test_evaluate_off_the_main_thread(tmp_path):
    """verl may run evaluation in a worker thread: grading must still work (no signal error)."""
    gen = make_fake(["aime25"])
    result: dict = {}

    def run():
        try:
            result["summary"] = evaluate(gen, ["aime25"], run_dir=tmp_path, eval_step=0, n=2,
                                         max_new_tokens=8, **SAMPLING, progress=False)
        except BaseException as exc:  # noqa: BLE001
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    assert "error" not in result, result.get("error")
    counts = expected_counts(30, 2)
    assert result["summary"]["aime25"]["avg@1"] == pytest.approx(sum(counts) / 60)


def test_bad_arguments(tmp_path):
    gen = make_fake(["aime24"])
    for kwargs in ({"eval_step": -1, "n": 1}, {"eval_step": 0, "n": 0}, {"eval_step": 0, "n": 1, "limit": 0}):
        with pytest.raises(ValueError):
            evaluate(gen, ["aime24"], run_dir=tmp_path, max_new_tokens=8, **SAMPLING, progress=False, **kwargs)


def test_summarize_refuses_mixed_steps():
    records = [{"eval_step": s, "problem_id": "a", "sample": 0, "correct": True, "length": 1, "answer": "1"}
               for s in (0, 1)]
    with pytest.raises(ValueError, match="several eval steps"):
        summarize(records, (1,))


def test_records_are_one_json_object_per_line(tmp_path):
    gen = make_fake(["aime24"])
    evaluate(gen, ["aime24"], run_dir=tmp_path, eval_step=0, n=1, max_new_tokens=8, **SAMPLING, limit=3, progress=False)
    lines = (tmp_path / "samples" / "aime24.jsonl").read_text().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert first == {"eval_step": 0, "problem_id": "60", "sample": 0, "correct": False, "length": 10,
                     "answer": "WRONG0"}
