"""The synthetic task: tokenizer, solutions, injected mistakes, grader, benchmarks."""

from __future__ import annotations

import random

import pytest

from core.benchmarks import grader_for, load_benchmark
from core.grading import Grade
from core.embedded import task


def test_tokenizer_round_trip_and_rejects_unknown_characters():
    tok = task.TOKENIZER
    text = "37+82=119,119+5=124,\\boxed{124}"
    ids = tok.encode(text)
    assert tok.decode(ids + [tok.eos_id, 5, 6]) == text  # stops at </s>
    assert ids.count(tok.index["\\boxed{"]) == 1 and len(ids) == len(text) - len("\\boxed{") + 1
    with pytest.raises(ValueError, match="cannot encode 'x'"):
        tok.encode("12x")


def test_solution_adds_in_the_given_order():
    assert task.solution((37, 5, 82), order=(2, 0, 1)) == "82+37=119,119+5=124,\\boxed{124}"


@pytest.mark.parametrize("level", sorted(task.LEVELS))
def test_targets_are_correct_without_slips_and_wrong_with_them(level):
    g = task.SynthGrader()
    rng = random.Random(level)
    for _ in range(50):
        p = task.make_problem(rng, level)
        clean, bad = task.sft_target(p, rng, 0.0), task.sft_target(p, rng, 1.0)
        assert clean[1] is False and g.grade(clean[0], str(p.answer)).correct
        assert bad[1] is True and not g.grade(bad[0], str(p.answer)).correct
        # every target is made of the tokenizer's pieces and adds every term exactly once when clean
        task.TOKENIZER.encode(bad[0])
        addends = [int(s.split("+")[1].split("=")[0]) for s in clean[0].split(",")[:-1]]
        first = int(clean[0].split("+")[0])
        assert sorted([first] + addends) == sorted(p.terms)


def test_routes_vary_between_targets():
    """Several valid routes per problem: the forking tokens have real entropy in the SFT data."""
    p = task.Problem((11, 22, 33, 44), 3)
    rng = random.Random(0)
    assert len({task.sft_target(p, rng, 0.0)[0] for _ in range(200)}) > 10


def test_grader_never_raises_and_reads_the_last_box():
    g = task.SynthGrader()
    assert g.grade("1+2=3,\\boxed{3}", "3").correct
    assert g.grade("\\boxed{4},\\boxed{3}", "3").correct
    assert g.grade("1+2=3,\\boxed{3", "3") == Grade(False, None)  # cut off inside the box
    for junk in ("", "3", "\\boxed{}", "\\boxed{-3}", "\\boxed{3.0}", "\\boxed{" + "9" * 50 + "}", "}}}{{"):
        assert g.grade(junk, "3").correct is False


def test_six_benchmarks_rise_in_difficulty_and_are_held_out_of_training():
    sizes = []
    for level in sorted(task.LEVELS):
        probs = load_benchmark(f"synth_{level}")
        assert len(probs) == task.BENCHMARK_SIZE == len({p.question for p in probs})
        assert grader_for(f"synth_{level}").name == "synth"
        assert all(str(sum(map(int, p.question.split("+")))) == p.answer for p in probs)
        sizes.append(len(probs[0].question.split("+")))
    assert sizes == sorted(sizes) and len(set(sizes)) == 6
    held = task.held_out_questions()
    rng = random.Random(0)
    assert all(task.train_problem(rng, levels=(1,)).question not in held for _ in range(3000))
