"""Semantic entropy (SENT Eq. 7-9) against hand-computed values and an independent direct formula."""

from __future__ import annotations

import math
import random

import pytest

from core.curriculum import (CurriculumError, entropy_from_logprobs, normalized_cluster_logprobs, response_logliks,
                             semantic_entropy)

LN2 = math.log(2)


def direct_se(probs, clusters):
    """Independent reference: plain probabilities, no log-sum-exp (fine for moderate values)."""
    k = max(clusters) + 1
    pc = [sum(p for p, c in zip(probs, clusters) if c == j) for j in range(k)]
    z = sum(pc)
    return -sum((x / z) * math.log(x / z) for x in pc if x > 0)


# ---- count (discrete) -----------------------------------------------------------------------

@pytest.mark.parametrize("clusters, expected", [
    ([0] * 8, 0.0),                                    # a single cluster
    ([0, 0, 0, 0, 1, 1, 1, 1], LN2),                   # two equal clusters
    ([0, 0, 0, 0, 1, 1, 2, 3], 1.75 * LN2),            # 4/8, 2/8, 1/8, 1/8: 0.5 ln2 + 0.5 ln2 + 0.75 ln2
    ([0, 1, 2, 3, 4, 5, 6, 7], math.log(8)),           # all distinct: the maximum ln 8 = 2.079
    ([0, 0, 1, 1, 2, 2, 3, 3], math.log(4)),
    ([0, 0, 0, 0, 0, 0, 0, 1], -(7 / 8) * math.log(7 / 8) - (1 / 8) * math.log(1 / 8)),
])
def test_count_variant_hand_computed(clusters, expected):
    ll = response_logliks("count", [None] * len(clusters), [1] * len(clusters))
    assert semantic_entropy(ll, clusters) == pytest.approx(expected, abs=1e-12)


def test_count_ignores_logprobs_and_lengths():
    ll = response_logliks("count", [-1.0, -50.0, -3.0, -0.1], [1, 900, 3, 2])
    assert semantic_entropy(ll, [0, 0, 1, 1]) == pytest.approx(LN2, abs=1e-12)


# ---- summed log-probability (the paper taken literally) ---------------------------------------

def test_sum_variant_hand_computed():
    # cluster A = {0.2, 0.1} -> 0.3, cluster B = {0.1}; normalised 0.75 / 0.25
    ll = response_logliks("sum_logprob", [math.log(0.2), math.log(0.1), math.log(0.1)], [5, 7, 9])
    expected = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))  # 0.562335...
    assert semantic_entropy(ll, [0, 0, 1]) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(0.5623351446188083, abs=1e-15)


def test_mean_variant_hand_computed():
    # per-token means: -ln2 (p=1/2), -ln4 (1/4), -ln4 (1/4); A = {r0}, B = {r1, r2} -> 1/2, 1/2
    lps, lens = [-2 * LN2, -3 * math.log(4), -math.log(4)], [2, 3, 1]
    ll = response_logliks("mean_logprob", lps, lens)
    assert ll == pytest.approx([-LN2, -math.log(4), -math.log(4)], abs=1e-14)
    assert semantic_entropy(ll, [0, 1, 1]) == pytest.approx(LN2, abs=1e-12)
    # the same responses under the summed variant: A = 1/4, B = 1/64 + 1/4 = 17/64 -> 16/33, 17/33
    s = semantic_entropy(response_logliks("sum_logprob", lps, lens), [0, 1, 1])
    assert s == pytest.approx(-(16 / 33) * math.log(16 / 33) - (17 / 33) * math.log(17 / 33), abs=1e-12)


def test_ties_and_single_cluster_every_variant():
    for variant in ("sum_logprob", "mean_logprob", "count"):
        ll = response_logliks(variant, [-3.0, -40.0, -7.0], [3, 40, 7])
        assert semantic_entropy(ll, [0, 0, 0]) == 0.0
    # equal response probabilities: every variant is the count entropy
    for variant in ("sum_logprob", "mean_logprob"):
        ll = response_logliks(variant, [-5.0] * 8, [5] * 8)
        assert semantic_entropy(ll, [0, 0, 0, 0, 1, 1, 2, 3]) == pytest.approx(1.75 * LN2, abs=1e-12)


def test_permutation_gives_bit_identical_entropy():
    rng = random.Random(0)
    lps = [-rng.uniform(0.1, 30) for _ in range(8)]
    clusters = [0, 1, 0, 2, 1, 0, 3, 2]
    ref = semantic_entropy(lps, clusters)
    for _ in range(20):
        perm = list(range(8))
        rng.shuffle(perm)
        # relabel clusters in first-appearance order of the permuted responses
        remap: dict[int, int] = {}
        pc = [remap.setdefault(clusters[i], len(remap)) for i in perm]
        assert semantic_entropy([lps[i] for i in perm], pc) == ref  # exact: ties stay ties


def test_random_against_direct_formula():
    rng = random.Random(1)
    for _ in range(300):
        m = rng.randint(2, 10)
        clusters = [rng.randrange(m) for _ in range(m)]
        remap: dict[int, int] = {}
        clusters = [remap.setdefault(c, len(remap)) for c in clusters]
        probs = [rng.uniform(1e-6, 1.0) for _ in range(m)]
        got = semantic_entropy([math.log(p) for p in probs], clusters)
        assert got == pytest.approx(direct_se(probs, clusters), rel=1e-10, abs=1e-12)
        assert 0.0 <= got <= math.log(max(clusters) + 1) + 1e-12


def test_log_sum_exp_stability_with_long_responses():
    # 2k-token responses: summed log-probs of -5000 underflow exp() to 0; log-sum-exp does not
    ll = [-5000.0, -5000.0, -5000.0, -5000.0]
    assert semantic_entropy(ll, [0, 0, 1, 1]) == pytest.approx(LN2, abs=1e-12)
    # a 100-nat gap makes the distribution one-hot to double precision: SE ~ 101 * e^-100, not NaN
    h = semantic_entropy([-5000.0, -5100.0], [0, 1])
    assert 0.0 <= h < 1e-40 and not math.isnan(h)
    lp = normalized_cluster_logprobs([-5000.0, -5100.0], [0, 1])
    assert lp == pytest.approx([0.0, -100.0], abs=1e-12)


def test_entropy_zero_times_log_zero():
    assert entropy_from_logprobs([0.0, -math.inf]) == 0.0


def test_bad_inputs():
    with pytest.raises(CurriculumError, match="log-probs on"):
        response_logliks("sum_logprob", [None, -1.0], [1, 1])
    with pytest.raises(CurriculumError, match="must be <= 0"):
        response_logliks("mean_logprob", [0.5, -1.0], [1, 1])
    with pytest.raises(CurriculumError, match="at least one generated token"):
        response_logliks("mean_logprob", [-1.0, -1.0], [0, 1])
    with pytest.raises(CurriculumError, match="unknown semantic-entropy variant"):
        response_logliks("sum", [-1.0], [1])
    with pytest.raises(CurriculumError, match="no gaps"):
        semantic_entropy([0.0, 0.0], [0, 2])
    with pytest.raises(CurriculumError, match="probability 0"):
        semantic_entropy([-math.inf, -math.inf], [0, 1])
