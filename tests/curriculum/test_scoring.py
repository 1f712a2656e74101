"""score_prompts end to end on crafted responses (synth grader), and its cache."""

from __future__ import annotations

import math
import warnings

import pytest

from core.curriculum import CacheMissingError, CurriculumError, PromptItem, score_prompts
from core.embedded.task import SynthGrader

from .conftest import ScriptedGenerator


def run(gen, items, tmp_path, **kw):
    args = dict(m=4, variant="count", unparseable="singleton", seed=0, max_new_tokens=16, batch_size=2,
                model_key="model-A", cache_dir=tmp_path, progress=False)
    args.update(kw)
    return score_prompts(gen, items, SynthGrader(), **args)


def test_scores_on_crafted_responses(synth_items_and_script, tmp_path):
    items, script = synth_items_and_script
    gen = ScriptedGenerator(script)
    s = run(gen, items, tmp_path)
    assert [x.id for x in s] == ["0", "1", "2"]
    assert s[0].semantic_entropy == 0.0 and s[0].num_clusters == 1 and s[0].num_correct == 4
    # 10, 10 (gold cluster) | 11, 011 (equal as integers under the synth grader): 2 + 2
    assert s[1].semantic_entropy == pytest.approx(math.log(2), abs=1e-12) and s[1].num_clusters == 2
    assert s[2].semantic_entropy == pytest.approx(math.log(4), abs=1e-12) and s[2].num_unparseable == 4
    # batches of 2 prompts, seed = seed + index of the batch's first prompt
    assert [(len(p), n, seed) for p, n, seed in gen.calls] == [(2, 4, 0), (1, 4, 2)]


def test_cache_reuse_and_variants_without_regeneration(synth_items_and_script, tmp_path):
    items, script = synth_items_and_script
    first = run(ScriptedGenerator(script), items, tmp_path)
    again = run(ScriptedGenerator(script, fail=True), items, tmp_path)              # scores cache
    assert again == first
    shared = run(ScriptedGenerator(script, fail=True), items, tmp_path, unparseable="shared")  # samples cache
    assert shared[2].semantic_entropy == 0.0 and shared[2].num_clusters == 1
    summed = run(ScriptedGenerator(script, fail=True), items, tmp_path, variant="sum_logprob")
    assert summed[1].semantic_entropy == pytest.approx(math.log(2), abs=1e-12)  # equal log-probs
    assert {x.variant for x in summed} == {"sum_logprob"}
    # another model, M or seed -> sampled again
    gen = ScriptedGenerator(script)
    run(gen, items, tmp_path, model_key="model-B")
    assert gen.calls
    gen = ScriptedGenerator(script)
    run(gen, items, tmp_path, seed=1)
    assert gen.calls


def test_no_model_key_means_no_cache(synth_items_and_script, tmp_path):
    items, script = synth_items_and_script
    run(ScriptedGenerator(script), items, tmp_path, model_key=None)
    assert not list(tmp_path.iterdir())


def test_required_cache_missing_or_corrupt(synth_items_and_script, tmp_path):
    items, script = synth_items_and_script
    with pytest.raises(CacheMissingError, match="does not exist.*never computed"):
        run(ScriptedGenerator(script, fail=True), items, tmp_path, require_cache=True)
    run(ScriptedGenerator(script), items, tmp_path)
    (scores_file,) = tmp_path.glob("scores-*.jsonl")
    scores_file.write_text(scores_file.read_text()[:-40])          # truncated mid-line
    with pytest.raises(CacheMissingError, match="unreadable"):
        run(ScriptedGenerator(script, fail=True), items, tmp_path, require_cache=True)
    lines = scores_file.read_text().splitlines()
    scores_file.write_text("\n".join(lines[:-1]) + "\n")            # a whole line missing
    with pytest.raises(CacheMissingError, match="truncated"):
        run(ScriptedGenerator(script, fail=True), items, tmp_path, require_cache=True)
    # not required: warn and rebuild from the (intact) samples cache, without generating
    with pytest.warns(UserWarning, match="recomputing"):
        s = run(ScriptedGenerator(script, fail=True), items, tmp_path)
    assert len(s) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run(ScriptedGenerator(script, fail=True), items, tmp_path) == s   # repaired


def test_bad_input(synth_items_and_script, tmp_path):
    items, script = synth_items_and_script
    gen = ScriptedGenerator(script)
    with pytest.raises(CurriculumError, match="at least 2 samples"):
        run(gen, items, tmp_path, m=1)
    with pytest.raises(CurriculumError, match="no training prompts"):
        run(gen, [], tmp_path)
    with pytest.raises(CurriculumError, match="duplicate prompt id"):
        run(gen, [items[0], PromptItem("0", "5+5\n", "10")], tmp_path)
    with pytest.raises(CurriculumError, match="needs a model_key"):
        run(gen, items, tmp_path, model_key=None, require_cache=True)
    with pytest.raises(CurriculumError, match="unknown semantic-entropy variant"):
        run(gen, items, tmp_path, variant="entropy")
    assert not gen.calls
    no_lp = {p: [(t, None, k) for t, _, k in r] for p, r in script.items()}
    g = ScriptedGenerator(no_lp)
    with pytest.raises(CurriculumError, match="no log-probabilities"):
        run(g, items, tmp_path, variant="mean_logprob", model_key=None)
    assert len(g.calls) == 1                      # stopped after the first batch


def test_cached_samples_without_logprobs_are_resampled(synth_items_and_script, tmp_path):
    items, script = synth_items_and_script
    no_lp = {p: [(t, None, k) for t, _, k in r] for p, r in script.items()}
    run(ScriptedGenerator(no_lp), items, tmp_path, variant="count")
    g = ScriptedGenerator(script)
    with pytest.warns(UserWarning, match="no log-probabilities"):
        s = run(g, items, tmp_path, variant="mean_logprob")
    assert g.calls and s[1].variant == "mean_logprob"


def test_generator_returning_wrong_counts(synth_items_and_script, tmp_path):
    items, script = synth_items_and_script
    short = {p: r[:3] for p, r in script.items()}
    with pytest.raises(RuntimeError, match="expected 4 each"):
        run(ScriptedGenerator(short), items, tmp_path)


def test_math_verify_scoring_in_process_and_with_workers(tmp_path):
    """Real-data path: math-verify decides the clusters; worker subprocesses give the same verdicts."""
    from core.eval.grading import MathVerifyGrader

    items = [PromptItem("7", "What is 1/2?", "\\frac{1}{2}")]
    resp = ["so \\boxed{0.5}", "\\boxed{\\frac{2}{4}}", "\\boxed{1/4}", "\\boxed{0.25}", "I give up"]
    script = {"What is 1/2?": [(t, -1.0, 3) for t in resp]}
    out = []
    for workers in (1, 2):
        s = score_prompts(ScriptedGenerator(script), items, MathVerifyGrader(), m=5, variant="count",
                          max_new_tokens=8, model_key=None, progress=False, grade_workers=workers)[0]
        out.append(s)
    # {0.5, 2/4} correct | {1/4, 0.25} equivalent wrong answers | {unparseable}: 2/5, 2/5, 1/5
    h = -(2 * 0.4 * math.log(0.4) + 0.2 * math.log(0.2))
    assert out[0] == out[1]
    assert out[0].num_clusters == 3 and out[0].num_correct == 2 and out[0].num_unparseable == 1
    assert out[0].semantic_entropy == pytest.approx(h, abs=1e-12)
