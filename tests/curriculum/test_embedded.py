"""The curriculum on the embedded backend: the real CPU generator (a tiny random-init Qwen2) end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from omegaconf import OmegaConf

torch = pytest.importorskip("torch")

from core import curriculum as C  # noqa: E402
from core.embedded.curriculum import build_plan, prompt_items, training_set  # noqa: E402
from core.embedded import task  # noqa: E402

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"


@pytest.fixture(scope="module")
def tiny_model():
    from core.embedded.model import ModelSpec, build_model

    spec = ModelSpec(hidden_size=32, num_layers=1, intermediate_size=64, num_heads=2, num_kv_heads=1,
                     max_positions=64)
    return build_model(spec, seed=0)


def node(tmp_path, **kw):
    """sweeps/curriculum/semantic_entropy.yaml (every key the curriculum reads) with a small, fast setting."""
    se = OmegaConf.to_container(OmegaConf.load(SWEEPS / "curriculum" / "semantic_entropy.yaml"))
    return {**se, "name": "semantic_entropy", "stages": 2, "reset_reference": True, "m": 4, "variant": "mean_logprob",
            "unparseable": "singleton", "max_new_tokens": 12, "seed": 0, "batch_size": 8, "train_size": 12,
            "train_seed": 0, "cache_dir": str(tmp_path / "cache"), **kw}


def test_training_set_is_fixed_and_disjoint_from_the_benchmarks():
    a, b = training_set(50), training_set(50)
    assert a == b and list(a)[:2] == ["synth_train/0", "synth_train/1"]
    assert training_set(50, seed=1) != a
    assert not {p.question for p in a.values()} & task.held_out_questions()
    items = prompt_items(a)
    assert items[0].prompt == task.prompt_text(a["synth_train/0"].question)
    assert items[0].gold == str(a["synth_train/0"].answer)


def test_end_to_end_with_the_embedded_generator(tiny_model, tmp_path):
    plan, problems = build_plan(node(tmp_path), base=tiny_model, total_steps=4, run_dir=tmp_path / "run",
                                max_new_tokens=12, progress=False, log=lambda _: None)
    assert plan.num_stages == 2 and [len(s) for s in plan.stages] == [6, 6] and plan.stage_steps == (2, 2)
    assert set(plan.stage_of) == set(problems)
    rows = [json.loads(x) for x in (tmp_path / "run" / "semantic_entropy.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and {r["variant"] for r in rows} == {"mean_logprob"}
    se = [r["semantic_entropy"] for r in rows]
    assert se == sorted(se) and all(0.0 <= h <= math.log(4) + 1e-9 for h in se)
    assert [r["stage"] for r in rows] == [1] * 6 + [2] * 6
    # deterministic: a fresh cache gives the same scores; the cache key follows the weights
    again, _ = build_plan(node(tmp_path, cache_dir=str(tmp_path / "other")), base=tiny_model, total_steps=4,
                          run_dir=None, max_new_tokens=12, progress=False, log=lambda _: None)
    assert again == plan
    with torch.no_grad():
        tiny_model.model.embed_tokens.weight[0, 0] += 1.0
    key = C.model_key_of_state_dict(tiny_model.state_dict())
    with torch.no_grad():
        tiny_model.model.embed_tokens.weight[0, 0] -= 1.0
    assert key != C.model_key_of_state_dict(tiny_model.state_dict())

