"""The synthetic task: tokenizer, solutions, injected mistakes, grader, benchmarks."""

from __future__ import annotations

import random

import pytest

from core.eval.benchmarks import grader_for, load_benchmark
from core.eval.grading import Grade
from core.embedded import task


def test_tokenizer_round_trip_and_rejects_unknown_characters():
    tok = task.TOKENIZER
    text = "7+8=15|54,15+5=20|4,20+4=24,\\boxed{24}"
    ids = tok.encode(text)
    assert tok.decode(ids + [tok.eos_id, 5, 6]) == text  # stops at </s>
    assert ids.count(tok.index["\\boxed{"]) == 1 and len(ids) == len(text) - len("\\boxed{") + 1
    with pytest.raises(ValueError, match="cannot encode 'x'"):
        tok.encode("12x")


def test_solution_adds_in_the_given_order_and_lists_the_terms_left():
    assert task.solution((7, 5, 8), order=(2, 0, 1)) == "8+7=15|5,15+5=20,\\boxed{20}"
    assert task.solution((7, 5, 8, 4)) == "7+5=12|84,12+8=20|4,20+4=24,\\boxed{24}"
    # a repeated value loses its first occurrence, whichever copy the route took
    assert task.solution((5, 3, 5), order=(2, 1, 0)) == "5+3=8|5,8+5=13,\\boxed{13}"


def test_solution_rejects_what_the_format_cannot_write():
    with pytest.raises(ValueError, match="one-digit terms"):
        task.solution((37, 5))
    with pytest.raises(ValueError, match="not a permutation"):
        task.solution((1, 2, 3), order=(0, 0, 1))


def _steps(target: str):
    """``[(acc, term, result, rest)]`` of a target, and its boxed answer."""
    *steps, box = target.split(",")
    out = []
    for s in steps:
        eq, _, rest = s.partition("|")
        lhs, res = eq.split("=")
        acc, term = lhs.split("+")
        out.append((int(acc), int(term), int(res), [int(c) for c in rest]))
    return out, int(box[len("\\boxed{"):-1])


@pytest.mark.parametrize("level", sorted(task.LEVELS))
def test_targets_are_correct_without_slips_and_carry_their_mistakes_forward(level):
    g = task.SynthGrader()
    rng = random.Random(level)
    kinds, wrong = set(), 0
    for _ in range(100):
        p = task.make_problem(rng, level)
        clean, bad = task.sft_target(p, rng, 0.0), task.sft_target(p, rng, 1.0)
        assert clean[1] == 0 and g.grade(clean[0], str(p.answer)).correct
        wrong += not g.grade(bad[0], str(p.answer)).correct
        task.TOKENIZER.encode(bad[0])  # made of the tokenizer's pieces
        # clean: every step is right, takes a term still listed, and strikes exactly it
        steps, box = _steps(clean[0])
        left = list(p.terms)
        left.remove(steps[0][0])
        for acc, term, res, rest in steps:
            assert res == acc + term and term in left
            left.remove(term)
            assert rest == left
        assert left == [] and box == p.answer
        # with mistakes: still one consistent chain (each step continues from the last result)
        steps, box = _steps(bad[0])
        assert bad[1] == len(steps)  # every step slipped
        assert all(a[2] == b[0] for a, b in zip(steps, steps[1:])) and box == steps[-1][2]
        for acc, term, res, _ in steps:
            kinds.add("slip" if res != acc + term else "ok")
        taken = [steps[0][0]] + [t for _, t, _, _ in steps]
        kinds.add("dropped" if len(taken) < len(p.terms) else "doubled" if len(taken) > len(p.terms) else "")
    assert {"slip", "dropped", "doubled"} <= kinds
    assert wrong >= 80  # mistakes can cancel (a +1 slip and a -1 slip), rarely


def test_slips_are_per_step_so_longer_targets_are_wrong_more_often():
    g, rng = task.SynthGrader(), random.Random(0)

    def clean_rate(level):
        probs = [task.make_problem(rng, level) for _ in range(3000)]
        return sum(g.grade(task.sft_target(p, rng, 0.1)[0], str(p.answer)).correct for p in probs) / len(probs)

    short, long = clean_rate(1), clean_rate(6)   # 2 and 7 steps: 0.9**2 = 0.81, 0.9**7 = 0.48
    assert abs(short - 0.81) < 0.03 and abs(long - 0.48) < 0.04
    with pytest.raises(ValueError, match="slip_per_step"):
        task.sft_target(task.make_problem(rng, 1), rng, 1.5)


def test_routes_vary_between_targets():
    """Several valid routes per problem: the forking tokens have real entropy in the SFT data."""
    p = task.Problem((1, 2, 3, 4), 2)
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
