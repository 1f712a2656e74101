"""A scripted generator for the code benchmarks' end-to-end tests (``--plugin tests.eval.code_plugin``):
problem i of the sample file gets a known-correct program in its first ``i % (n + 1)`` samples and a
known-wrong one after, so the expected pass@k / avg@k are known exactly."""

from __future__ import annotations

from core.eval.generation import Generation, register_generator
from tests.eval.test_code_grading import SOLUTIONS, fenced

CONTENT = {  # a phrase of each problem's statement -> its question id
    "Print their sum": "lcbt_sum", "print their mean": "lcbt_mean", "add up to target": "lcbt_two_sum",
    "[a // b, a % b]": "lcbt_divmod",
}


class ScriptedCodeGenerator:
    tokenizer = None

    def __init__(self, model_path: str = "", **kwargs):
        self.model_path = model_path

    def generate(self, prompts, n, *, max_new_tokens, temperature, top_p, seed):
        out = []
        for i, prompt in enumerate(prompts):
            qid = next(q for phrase, q in CONTENT.items() if phrase in prompt)
            good, bad = SOLUTIONS[qid]["correct"][0], SOLUTIONS[qid]["wrong"][0]
            k = i % (n + 1)
            out.append([Generation(fenced(good if j < k else bad), 100 + j) for j in range(n)])
        return out


try:
    register_generator("scripted_code", ScriptedCodeGenerator)
except ValueError:  # imported twice
    pass
