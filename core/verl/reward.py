"""verl reward function: the harness grader (``core.eval.grading``) as ``reward.custom_reward_function``.

verl loads this file by path (``reward.custom_reward_function.path``) in its reward workers and
calls ``compute_score(data_source=..., solution_str=..., ground_truth=..., extra_info=...)`` once per
response (from an executor thread; ``MathVerifyGrader`` then grades in a worker subprocess, since
math-verify's timeouts need the main thread). The reward is binary, as in the paper (§III-A):
1.0 when the extracted answer matches the gold answer, else 0.0. The same grader judges the
evaluation samples, so training reward and reported accuracy agree by construction.
"""

from __future__ import annotations

import os
import sys

# verl imports this file by path: make the repository importable even if PYTHONPATH was not set
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from core.eval.grading import get_grader  # noqa: E402

__all__ = ["compute_score", "GRADER", "grader_name"]

#: the grader of the training set and of the six math benchmarks (core.eval.benchmarks registers them so)
GRADER = "math_verify"


def grader_name(data_source: str) -> str:
    """The grader registered for ``data_source`` (a core.eval.benchmarks key; ``synth_train`` -> synth), else
    :data:`GRADER`."""
    from core.eval.benchmarks import benchmark_keys, grader_for

    return grader_for(data_source).name if data_source in benchmark_keys() else GRADER


def compute_score(data_source: str, solution_str: str, ground_truth: str, extra_info: dict | None = None,
                  **kwargs) -> dict:
    """``{"score": 1.0|0.0, "acc": same}``; verl logs ``score`` as the reward and keeps ``acc`` as
    extra info (its validation metrics group by it). Never raises on model output."""
    grade = get_grader(grader_name(str(data_source))).grade(solution_str, str(ground_truth))
    score = 1.0 if grade.correct else 0.0
    return {"score": score, "acc": score}
