"""prepare_curriculum: config node -> scored, ordered, split plan + semantic_entropy.jsonl."""

from __future__ import annotations

import json

import pytest

from core.curriculum import CacheMissingError, CurriculumError, prepare_curriculum
from core.embedded.task import SynthGrader

from .conftest import ScriptedGenerator


def node(**kw):
    base = {"name": "semantic_entropy", "stages": 2, "stage_fractions": None, "reset_reference": True, "m": 4,
            "variant": "count", "unparseable": "singleton", "temperature": 1.0, "top_p": 1.0, "max_new_tokens": 16,
            "seed": 0, "batch_size": 8, "scores_path": None, "cache_dir": None}
    base.update(kw)
    return base


def test_none_is_one_stage():
    from core.curriculum import PromptItem

    items = [PromptItem("a", "1+1\n", "2")]
    plan = prepare_curriculum({"name": "none", "stages": 1}, items=items, total_steps=5, run_dir=None)
    assert plan.num_stages == 1 and plan.stage_ids(1) == ["a"] and plan.total_steps == 5


def test_semantic_entropy_plan_and_log(synth_items_and_script, tmp_path):
    items, script = synth_items_and_script
    made = []

    def gen_fn():
        made.append(1)
        return ScriptedGenerator(script)

    cur = node(cache_dir=str(tmp_path / "cache"))
    plan = prepare_curriculum(cur, items=items, total_steps=6, run_dir=tmp_path / "run", generator_fn=gen_fn,
                              grader=SynthGrader(), model_key="m", log=lambda _: None)
    # SE: "0" = 0 (all correct), "1" = ln 2, "2" = ln 4 (all unparseable) -> stages [0, 1] | [2]
    assert plan.stages == (("0", "1"), ("2",)) and plan.stage_steps == (4, 2) and plan.reset_reference
    rows = [json.loads(x) for x in (tmp_path / "run" / "semantic_entropy.jsonl").read_text().splitlines()]
    assert [(r["id"], r["stage"], r["num_clusters"], r["variant"]) for r in rows] == [
        ("0", 1, 1, "count"), ("1", 1, 2, "count"), ("2", 2, 4, "count")]
    # a resumed run rebuilds the same plan from the cache, without building a generator
    again = prepare_curriculum(cur, items=items, total_steps=6, run_dir=tmp_path / "run", generator_fn=gen_fn,
                               grader=SynthGrader(), model_key="m", log=lambda _: None)
    assert again == plan and made == [1]


def test_scores_path(synth_items_and_script, tmp_path):
    items, _ = synth_items_and_script
    path = tmp_path / "se.jsonl"
    path.write_text("".join(json.dumps({"id": i, "semantic_entropy": s}) + "\n"
                            for i, s in [("0", 0.9), ("1", 0.1), ("2", 0.5), ("extra", 0.0)]))
    plan = prepare_curriculum(node(scores_path=str(path)), items=items, total_steps=4, run_dir=tmp_path,
                              log=lambda _: None)
    assert plan.stages == (("1", "2"), ("0",))        # ids outside the training set are ignored
    path.write_text(json.dumps({"id": "0", "semantic_entropy": 0.9}) + "\n")
    with pytest.raises(CurriculumError, match="2 training prompts have no score"):
        prepare_curriculum(node(scores_path=str(path)), items=items, total_steps=4, run_dir=None)
    with pytest.raises(CacheMissingError, match="does not exist"):
        prepare_curriculum(node(scores_path=str(tmp_path / "missing.jsonl")), items=items, total_steps=4,
                           run_dir=None)


def test_errors(synth_items_and_script):
    items, _ = synth_items_and_script
    with pytest.raises(CurriculumError, match="needs a grader"):
        prepare_curriculum(node(), items=items, total_steps=4, run_dir=None)
    with pytest.raises(CurriculumError, match="resolve it first"):
        prepare_curriculum(node(name="auto"), items=items, total_steps=4, run_dir=None)
    with pytest.raises(CurriculumError, match="more than the 3 training prompts"):
        prepare_curriculum(node(stages=4, scores_path=None), items=items, total_steps=8, run_dir=None,
                           generator_fn=lambda: None, grader=SynthGrader())


def test_shuffled_control_keeps_the_schedule_and_randomises_the_order(tmp_path):
    """curriculum=shuffled (issue 12's control): the stage sizes, steps and reference resets of
    semantic_entropy, the prompts assigned to stages by a seeded permutation instead of by score."""
    from core.curriculum import PromptItem, random_split

    ids = [str(i) for i in range(40)]
    items = [PromptItem(i, f"{i}+1\n", str(int(i) + 1)) for i in ids]
    path = tmp_path / "se.jsonl"
    path.write_text("".join(json.dumps({"id": i, "semantic_entropy": int(i) / 40}) + "\n" for i in ids))
    se = prepare_curriculum(node(scores_path=str(path), stages=3), items=items, total_steps=9, run_dir=None,
                            log=lambda _: None)
    sh = prepare_curriculum(node(scores_path=str(path), stages=3, name="shuffled"), items=items, total_steps=9,
                            run_dir=tmp_path / "run", log=lambda _: None)
    assert [len(s) for s in sh.stages] == [len(s) for s in se.stages] and sh.stage_steps == se.stage_steps
    assert sh.reset_reference == se.reset_reference and sorted(sum(sh.stages, ())) == sorted(ids)
    assert sh.stages != se.stages and se.stages[0] == tuple(ids[:14])       # ascending score vs random
    again = prepare_curriculum(node(scores_path=str(path), stages=3, name="shuffled"), items=items, total_steps=9,
                               run_dir=None, log=lambda _: None)
    assert again.stages == sh.stages                                          # seeded: a resume gets the same plan
    other = random_split(ids, [14, 13, 13], seed=1)
    assert [tuple(s) for s in other] != list(sh.stages)                     # curriculum.seed changes it
    with pytest.raises(CurriculumError, match="do not add up"):
        random_split(ids, [10, 10], seed=0)
