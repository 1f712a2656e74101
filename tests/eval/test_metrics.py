"""core.metrics against brute-force enumeration over all k-subsets (the definitions)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from core.metrics import avg_at_k, check_k, len_at_k, mean_pass_at_k, pass_at_k


def brute_pass_at_k(correct: list[bool], k: int) -> float:
    """P(a uniformly drawn k-subset of the samples holds a correct one), by enumeration."""
    subsets = list(itertools.combinations(correct, k))
    return sum(any(s) for s in subsets) / len(subsets)


def brute_avg_at_k(correct: list[bool], k: int) -> float:
    """Expected accuracy of a uniformly drawn k-subset, by enumeration."""
    subsets = list(itertools.combinations(correct, k))
    return sum(sum(s) / k for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_equals_enumeration(n):
    for c in range(n + 1):
        correct = [True] * c + [False] * (n - c)
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_pass_at_k(correct, k), abs=1e-12), (n, c, k)


def test_pass_at_k_enumeration_random_orders():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(2, 11))
        correct = list(rng.random(n) < 0.3)
        for k in range(1, n + 1):
            assert pass_at_k(n, sum(correct), k) == pytest.approx(brute_pass_at_k(correct, k), abs=1e-12)


def test_mean_pass_and_avg_over_problems_equal_enumeration():
    problems = [[True, False, False, True], [False] * 4, [True] * 4, [False, True, False, False]]
    ns = [len(p) for p in problems]
    cs = [sum(p) for p in problems]
    for k in range(1, 5):
        assert mean_pass_at_k(ns, cs, k) == pytest.approx(np.mean([brute_pass_at_k(p, k) for p in problems]))
        assert avg_at_k(ns, cs, k) == pytest.approx(np.mean([brute_avg_at_k(p, k) for p in problems]))


def test_known_values():
    # The module docstring's example: 2 of 8 correct, pass@4 = 1 - C(6,4)/C(8,4) = 1 - 15/70.
    assert pass_at_k(8, 2, 4) == pytest.approx(1 - 15 / 70)
    assert pass_at_k(32, 0, 32) == 0.0
    assert pass_at_k(32, 1, 32) == 1.0
    assert pass_at_k(32, 5, 1) == pytest.approx(5 / 32)


def test_len_at_k_is_mean_of_per_problem_means():
    assert len_at_k([[10, 20], [100, 300]], 2) == pytest.approx((15 + 200) / 2)
    assert len_at_k([[10, 20], [100, 300]], 1) == pytest.approx((15 + 200) / 2)


@pytest.mark.parametrize("k", [0, -1, 5])
def test_bad_k_raises(k):
    with pytest.raises(ValueError, match="k"):
        check_k(4, k)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, k)
    with pytest.raises(ValueError):
        avg_at_k([4], [1], k)
    with pytest.raises(ValueError):
        len_at_k([[1, 2, 3, 4]], k)


def test_bad_counts_raise():
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        mean_pass_at_k([4, 4], [1], 1)
    with pytest.raises(ValueError):
        mean_pass_at_k([], [], 1)
