"""``preset=discriminating`` (docs/discriminating.md): it composes, its two harder benchmarks load and
grade, and adding them changed nothing that existing runs compute (synth_1 .. synth_6, the training
stream, TASK_VERSION). Fast: no model, no training."""

from __future__ import annotations

import hashlib
import random

import pytest

from core.checks import check_job
from core.embedded import task
from core.embedded.model import ModelSpec, encode_batch
from core.eval.benchmarks import grader_for, load_benchmark
from tests.embedded.conftest import compose

# digests of the problems as they were before synth_7 / synth_8 existed (computed at the parent commit)
BENCH_1_6_SHA = "0b2345c34d8e2ef69b06a27cf41f81bcfd5771364cb2abd5c63952f61bcf3570"
TRAIN_STREAM_SHA = "3435bcb08224bda5444196fc56c8fea9f109b38ab1bb2168f612fdcc4532a74a"


def _sha(lines) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def test_existing_problems_and_training_stream_are_unchanged():
    assert task.TASK_VERSION == 3
    assert task.LEVELS == {1: (3, 9), 2: (4, 9), 3: (5, 9), 4: (6, 9), 5: (7, 9), 6: (8, 9)}
    assert _sha(p.question for lvl in range(1, 7) for p in task.benchmark_problems(lvl)) == BENCH_1_6_SHA
    rng = random.Random(0)
    assert _sha(task.train_problem(rng).question for _ in range(2000)) == TRAIN_STREAM_SHA


@pytest.mark.parametrize("level", sorted(task.HARD_LEVELS))
def test_hard_benchmarks_load_grade_and_fit_the_model(level):
    key, (k, lo, hi) = f"synth_{level}", task.HARD_LEVELS[level]
    probs = load_benchmark(key)
    assert len(probs) == task.BENCHMARK_SIZE == len({p.question for p in probs})
    assert grader_for(key).name == "synth"
    grader = task.SynthGrader()
    budget = compose("preset=discriminating").eval.max_new_tokens
    for p in probs:
        terms = tuple(map(int, p.question.split("+")))
        assert len(terms) == k and all(lo <= t <= hi for t in terms) and str(sum(terms)) == p.answer
        right = task.solution(terms, order=list(reversed(range(k))))
        assert grader.grade(right, p.answer).correct
        assert not grader.grade(right.replace(f"{{{p.answer}}}", f"{{{int(p.answer) + 1}}}"), p.answer).correct
        ids, _, _ = encode_batch([task.prompt_text(p.question)], [right])
        assert ids.shape[1] <= ModelSpec().max_positions           # prompt + solution + </s> fit
        assert encode_batch([task.prompt_text(p.question)])[0].shape[1] + budget <= ModelSpec().max_positions
        assert len(task.TOKENIZER.encode(right)) + 1 <= budget      # the evaluation budget holds it
    # never a training question: training draws LEVELS only (3 .. 8 terms)
    assert not {p.question for p in probs} & task.held_out_questions()


def test_the_preset_composes_and_passes_the_checks():
    cfg = compose("preset=discriminating", "method=grpo")
    check_job(cfg)
    assert cfg.train.steps * cfg.train.batch_prompts // cfg.train.mini_batch_prompts == 330  # optimizer updates
    assert cfg.eval.n_final >= 32 and max(cfg.eval.k) == cfg.eval.n_final
    assert list(cfg.eval.benchmarks) == [f"synth_{i}" for i in range(1, 9)]
