"""CurriculumPlan: step -> (stage, position), step allocation, deterministic batches, resume mid-stage-2."""

from __future__ import annotations

import pytest

from core.curriculum import CurriculumError, CurriculumPlan


def plan3():
    return CurriculumPlan.from_stages([["a", "b", "c", "d"], ["e", "f", "g", "h"], ["i", "j"]], 10)


def test_split_steps_proportional():
    p = plan3()
    assert p.stage_steps == (4, 4, 2) and p.total_steps == 10
    assert CurriculumPlan.split_steps(7, [5, 5]) == (4, 3)
    assert CurriculumPlan.split_steps(3, [100, 1, 1]) == (1, 1, 1)     # every stage gets >= 1 step
    assert CurriculumPlan.split_steps(200, [8645, 8645]) == (100, 100)
    with pytest.raises(CurriculumError, match="cannot cover 3"):
        CurriculumPlan.split_steps(2, [1, 1, 1])


def test_position_and_stage_starts():
    p = plan3()
    assert [p.position(s) for s in (1, 4, 5, 8, 9, 10)] == [(1, 1), (1, 4), (2, 1), (2, 4), (3, 1), (3, 2)]
    assert [p.start(k) for k in (1, 2, 3)] == [1, 5, 9]
    assert [s for s in range(1, 11) if p.is_stage_start(s)] == [1, 5, 9]
    assert p.stage_ids(2) == ["e", "f", "g", "h"] and p.stage_of["j"] == 3
    for bad in (0, 11):
        with pytest.raises(CurriculumError, match="outside the plan"):
            p.position(bad)
    with pytest.raises(CurriculumError, match="outside 1..3"):
        p.stage_ids(4)


def test_batches_cover_each_stage_once_per_epoch():
    p = CurriculumPlan.from_stages([list("abcdef"), list("ghijkl")], 6)   # 3 steps per stage
    seen = []
    for step in range(1, 4):
        ids, epoch = p.batch(step, 2, seed=0)
        assert epoch == 0
        seen += ids
    assert sorted(seen) == list("abcdef")                # stage 1, one epoch, no prompt twice
    ids, epoch = p.batch(4, 4, seed=0)
    assert set(ids) <= set("ghijkl") and epoch == 0
    # batch 2 of stage 2 with batch size 4 crosses into epoch 1 (positions 4..7 of 6)
    ids, epoch = p.batch(5, 4, seed=0)
    assert epoch == 0 and set(ids) <= set("ghijkl")
    assert p.batch(6, 4, seed=0)[1] == 1
    assert p.batch(2, 2, seed=0) == p.batch(2, 2, seed=0)
    assert p.batch(2, 2, seed=0) != p.batch(2, 2, seed=1) or p.batch(1, 2, seed=0) != p.batch(1, 2, seed=1)


def test_resume_in_the_middle_of_stage_2():
    """A run that stops after step 6 (stage 2, its 2nd step) and a fresh process that rebuilds the plan
    and continues from step 7 see exactly the steps, stages, epochs and prompts of an uninterrupted run."""
    def run(plan, steps):
        return [(s, plan.stage_at(s), *plan.batch(s, 3, seed=7)) for s in steps]

    full = run(plan3(), range(1, 11))
    first = run(plan3(), range(1, 7))
    resumed_plan = plan3()                             # rebuilt in the new process
    assert resumed_plan.position(7) == (2, 3)
    rest = run(resumed_plan, range(7, 11))
    assert first + rest == full
    assert [r[1] for r in full] == [1, 1, 1, 1, 2, 2, 2, 2, 3, 3]


def test_single_and_invalid_plans():
    p = CurriculumPlan.single(["x", "y"], 5)
    assert p.num_stages == 1 and p.stage_at(5) == 1 and p.name == "none"
    with pytest.raises(CurriculumError, match="has no prompts"):
        CurriculumPlan(((), ("a",)), (1, 1))
    with pytest.raises(CurriculumError, match="more than one stage"):
        CurriculumPlan((("a",), ("a",)), (1, 1))
    with pytest.raises(CurriculumError, match=">= 1"):
        CurriculumPlan((("a",), ("b",)), (1, 0))
    with pytest.raises(CurriculumError, match="batch_size"):
        p.batch(1, 0, seed=0)
