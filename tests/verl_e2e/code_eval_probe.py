"""``python -m core.eval --plugin tests.verl_e2e.code_eval_probe``: a record of what the real vLLM
generator and the code grader did, for tests/verl_e2e/test_code_eval_vllm.py.

Wraps :meth:`core.eval.generation.VLLMGenerator.generate` and
:meth:`core.eval.code_grading.CodeGrader.grade_many` (each still runs unchanged) and appends one
JSON line per call to the file ``$CODE_EVAL_PROBE``: the prompts, their token ids and the sampled
texts; the responses and golds graded, and each verdict with its sandbox status.
"""

from __future__ import annotations

import functools
import json
import os

from core.eval.code_grading import CodeGrader
from core.eval.generation import VLLMGenerator

PROBE_ENV = "CODE_EVAL_PROBE"


def _log(kind: str, **data) -> None:
    with open(os.environ[PROBE_ENV], "a", encoding="utf-8") as f:
        f.write(json.dumps({"kind": kind, **data}) + "\n")


def _after(cls, name: str, record) -> None:
    """Make ``cls.name`` call ``record(self, args, result)`` after the original (once per process)."""
    original = getattr(cls, name)
    if getattr(original, "_probed", False):
        return

    @functools.wraps(original)
    def wrapper(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        record(self, args, result)
        return result

    wrapper._probed = True
    setattr(cls, name, wrapper)


def _generated(gen: VLLMGenerator, args, result) -> None:
    prompts = args[0]
    _log("generate", prompts=prompts, token_ids=[gen._token_ids(p) for p in prompts],
         texts=[[g.text for g in gens] for gens in result],
         num_tokens=[[g.num_tokens for g in gens] for gens in result])


def _graded(grader: CodeGrader, args, result) -> None:
    responses, golds = args[0], args[1]
    _log("grade", responses=list(responses), golds=list(golds), correct=[g.correct for g in result],
         answers=[g.answer for g in result], status=[r.status if r else None for r in grader.last_results])


_after(VLLMGenerator, "generate", _generated)
_after(CodeGrader, "grade_many", _graded)
