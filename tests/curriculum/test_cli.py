"""python -m core.curriculum (what the verl backend runs on vLLM): argument checks and the dry run."""

from __future__ import annotations

import pytest

from core.curriculum import CurriculumError, main


def test_dry_run_prints_the_plan(capsys):
    assert main(["--model", "org/some-model", "--data", "aime24", "--limit", "5", "--out", "unused", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "5 prompts of aime24 x M=8" in out and "grader=math_verify" in out and "variant=mean_logprob" in out


@pytest.mark.parametrize("args, match", [
    (["--m", "1"], "at least 2 samples"),
    (["--stages", "9", "--limit", "5"], "more than the 5 training prompts"),
    (["--stage-fractions", "0.9,0.2"], "must sum to 1"),
])
def test_bad_arguments_fail_before_sampling(args, match):
    with pytest.raises(CurriculumError, match=match):
        main(["--model", "m", "--data", "aime24", "--out", "unused", "--dry-run", *args])
