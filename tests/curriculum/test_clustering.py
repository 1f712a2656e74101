"""Clustering by final-answer equivalence: gold seeding, greedy representatives, unparseable rules."""

from __future__ import annotations

import math

import pytest

from core.curriculum import (CurriculumError, assign_clusters, grader_equivalence, response_logliks, score_samples,
                             semantic_entropy)


def exact(a, b):
    return a == b


def test_correct_responses_form_one_cluster_whatever_their_strings():
    # "1/2" and "0.5" are both graded correct against the gold: the gold seeds one cluster
    labels = assign_clusters(["1/2", "0.5", "3", "3"], [True, True, False, False], exact)
    assert labels == [0, 0, 1, 1]


def test_greedy_representative_is_transitive_safe():
    # a~b and b~c but not a~c: a partition results, decided by the first member of each cluster
    rel = {frozenset("ab"), frozenset("bc")}

    def eq(x, y):
        return x == y or frozenset((x, y)) in rel

    assert assign_clusters(["a", "b", "c"], [False] * 3, eq) == [0, 0, 1]   # c compared with rep 'a'
    assert assign_clusters(["b", "a", "c"], [False] * 3, eq) == [0, 0, 0]   # rep 'b' matches both
    assert assign_clusters(["a", "c", "b"], [False] * 3, eq) == [0, 1, 0]   # b joins the FIRST match only


@pytest.mark.parametrize("rule, expected", [("singleton", [0, 1, 2, 0, 3]), ("shared", [0, 1, 2, 0, 2])])
def test_unparseable_rule(rule, expected):
    labels = assign_clusters(["7", "8", None, "7", None], [False] * 5, exact, unparseable=rule)
    assert labels == expected


def _record(labels, correct=None, logprob=None, num_tokens=None):
    m = len(labels)
    return {"id": "p", "labels": labels, "correct": correct or [False] * m,
            "logprob": logprob or [-1.0] * m, "num_tokens": num_tokens or [1] * m}


def test_all_unparseable():
    rec = _record([None] * 8)
    s = score_samples(rec, "count", "singleton")
    assert s.semantic_entropy == pytest.approx(math.log(8), abs=1e-12) and s.num_clusters == 8
    assert s.num_unparseable == 8
    s = score_samples(rec, "count", "shared")
    assert s.semantic_entropy == 0.0 and s.num_clusters == 1
    # likelihood variants, singletons: the entropy of the normalised response probabilities
    rec = _record([None, None], logprob=[math.log(0.3), math.log(0.1)], num_tokens=[1, 1])
    s = score_samples(rec, "sum_logprob", "singleton")
    assert s.semantic_entropy == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)), abs=1e-12)


def test_mixed_record_rule_changes_only_unparseable():
    rec = _record([0, 0, None, 1, None, 0, 1, None], correct=[True, True, False, False, False, True, False, False])
    single = score_samples(rec, "count", "singleton")   # 3/8, 2/8, 1/8 x3
    shared = score_samples(rec, "count", "shared")      # 3/8, 2/8, 3/8
    e1 = -(3 / 8 * math.log(3 / 8) + 2 / 8 * math.log(2 / 8) + 3 * (1 / 8) * math.log(1 / 8))
    e2 = -(2 * 3 / 8 * math.log(3 / 8) + 2 / 8 * math.log(2 / 8))
    assert single.semantic_entropy == pytest.approx(e1, abs=1e-12) and single.num_clusters == 5
    assert shared.semantic_entropy == pytest.approx(e2, abs=1e-12) and shared.num_clusters == 3
    assert single.num_correct == 3 and single.num_unparseable == 3


def test_synth_grader_equivalence():
    from core.embedded.task import SynthGrader

    eq = grader_equivalence(SynthGrader())
    assert eq("12", "012") and eq("138", "138")
    assert not eq("12", "13")
    assert not eq("1+2", "3") and not eq("3", "1+2")      # a non-integer "gold" never crashes
    assert eq("1+2", " 1+2 ")                              # equal strings (whitespace-normalised)


def test_equivalence_asks_the_grader_once_per_unordered_pair():
    """The memo is keyed by the unordered pair: (a, b) and (b, a) cost one grading in both directions
    (the second direction skipped when the first fails); equal strings never reach the grader."""
    from types import SimpleNamespace

    asked = []

    class Grader:
        def grade(self, response, gold):
            answer = response.removeprefix("\\boxed{").removesuffix("}")
            asked.append((gold, answer))
            return SimpleNamespace(correct=answer.lstrip("0") == gold.lstrip("0"))

    eq = grader_equivalence(Grader())
    assert eq("012", "12") and eq("12", "012") and eq("012", "12")
    assert asked == [("012", "12"), ("12", "012")]
    asked.clear()
    assert not eq("5", "6") and not eq("6", "5") and eq("7", " 7")
    assert asked == [("5", "6")]


def test_math_verify_equivalence():
    from core.eval.grading import MathVerifyGrader

    eq = grader_equivalence(MathVerifyGrader())
    assert eq("\\frac{1}{2}", "0.5")
    assert eq("2\\sqrt{2}", "\\sqrt{8}")
    assert not eq("\\frac{1}{2}", "0.25")
    assert assign_clusters(["0.5", "\\frac{1}{2}", "1/4", "0.25", None], [False] * 5, eq) == [0, 0, 1, 1, 2]


def test_bad_rule():
    with pytest.raises(CurriculumError, match="unknown unparseable rule"):
        assign_clusters(["1"], [False], exact, unparseable="drop")


def test_semantic_entropy_of_labels_helper_consistency():
    # score_samples = response_logliks + semantic_entropy on the rule's labels
    rec = _record([0, 1, 0, None], logprob=[-1.0, -2.0, -3.0, -4.0], num_tokens=[1, 2, 3, 4])
    s = score_samples(rec, "mean_logprob", "singleton")
    ll = response_logliks("mean_logprob", rec["logprob"], rec["num_tokens"])
    assert s.semantic_entropy == semantic_entropy(ll, [0, 1, 0, 2])
