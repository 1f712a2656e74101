from __future__ import annotations

import math

import pytest

from core.curriculum import PromptItem
from core.eval.generation import Generation


class ScriptedGenerator:
    """Returns prepared responses per prompt (``script[prompt] = [(text, logprob, num_tokens), ...]``),
    recording every call; ``fail=True`` makes any call raise (to prove a cache hit)."""

    def __init__(self, script, fail=False):
        self.script, self.fail, self.calls = script, fail, []

    def generate(self, prompts, n, *, max_new_tokens, temperature, top_p, seed):
        if self.fail:
            raise AssertionError("the generator was called although the cache should have answered")
        self.calls.append((list(prompts), n, seed))
        return [[Generation(text=t, num_tokens=k, logprob=lp) for t, lp, k in self.script[p][:n]] for p in prompts]


def box(x):
    return f"{x[0]}+{x[1]}={x[0] + x[1]},\\boxed{{{x[0] + x[1]}}}" if isinstance(x, tuple) else f"\\boxed{{{x}}}"


@pytest.fixture
def synth_items_and_script():
    """Three synth prompts with hand-made responses: an easy one (all correct), a 2-way split, and one
    whose responses are all unparseable (no box)."""
    items = [PromptItem("0", "1+2\n", "3"), PromptItem("1", "5+5\n", "10"), PromptItem("2", "7+8\n", "15")]
    lp = math.log(0.5)
    script = {
        "1+2\n": [(box(3), lp, 4)] * 4,
        "5+5\n": [(box(10), lp, 4), (box(10), lp, 4), (box(11), lp, 4), (box("011"), lp, 4)],
        "7+8\n": [("7+8=15,", lp, 4)] * 4,
    }
    return items, script
