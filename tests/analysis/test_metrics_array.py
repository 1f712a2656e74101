"""Vectorised pass@k against brute-force enumeration of k-subsets and the scalar estimator."""

from itertools import combinations

import numpy as np
import pytest

from core.metrics import pass_at_k, pass_at_k_array, pass_at_k_curve
from analysis.scores import _pass_matrix, ks_for


def brute_pass_at_k(n: int, c: int, k: int) -> float:
    """Fraction of k-subsets of n samples (the first c correct) that contain a correct one."""
    subsets = list(combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_curve_matches_enumeration(n):
    cs = np.arange(n + 1)
    ns = np.full_like(cs, n)
    ks = list(range(1, n + 1))
    got = pass_at_k_curve(ns, cs, ks)  # [K, problems]
    for i, k in enumerate(ks):
        for j, c in enumerate(cs):
            assert got[i, j] == pytest.approx(brute_pass_at_k(n, int(c), k), abs=1e-12)


def test_array_matches_scalar_for_mixed_n():
    rng = np.random.default_rng(0)
    ns = rng.integers(32, 65, 200)
    cs = np.array([rng.integers(0, n + 1) for n in ns])
    for k in (1, 8, 16, 32):
        want = [pass_at_k(n, c, k) for n, c in zip(ns, cs)]
        np.testing.assert_allclose(pass_at_k_array(ns, cs, k), want, rtol=0, atol=1e-12)


def test_one_correct_sample_gives_k_over_n():
    assert pass_at_k_array(np.array([32]), np.array([1]), 8)[0] == pytest.approx(8 / 32)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="exceeds the number of samples"):
        pass_at_k_array(np.array([4]), np.array([1]), 8)
    with pytest.raises(ValueError, match="must be in"):
        pass_at_k_array(np.array([4]), np.array([5]), 1)
    with pytest.raises(ValueError, match="equal length"):
        pass_at_k_array(np.array([4, 4]), np.array([1]), 1)


def test_pass_matrix_marks_inadmissible_k_as_nan():
    m = _pass_matrix(np.array([4, 8]), np.array([1, 1]), [1, 4, 8])
    assert np.isnan(m[2, 0])  # k=8 > n=4
    assert m[2, 1] == pytest.approx(1.0)  # one correct of 8, k=8: always drawn
    assert m[1, 0] == pytest.approx(1.0) and m[0, 0] == pytest.approx(0.25)


def test_ks_for_includes_paper_k_and_n():
    assert ks_for(32) == [1, 2, 4, 8, 16, 32]
    assert ks_for(12) == [1, 2, 4, 8, 12]
