"""Sample-level metrics: unbiased pass@k, avg@k and len@k.

Pure numpy/stdlib (no torch, no verl), shared by the evaluation code (which prints summaries) and
the analysis (which rebuilds tables from ``samples/<benchmark>.jsonl``).

For one problem with ``n`` generated samples of which ``c`` are correct, the unbiased estimator of
pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on Code") is

    pass@k = 1 - C(n - c, k) / C(n, k)

i.e. the probability that a uniformly drawn k-subset of the n samples contains at least one correct
one. verl's validation ``best@k`` instead bootstraps with replacement and is biased low (2 of 8
correct: best@4 ~ 0.668, pass@4 = 0.786). avg@k is the expected accuracy of k samples, which for
the unbiased estimator is simply c / n for every k <= n; len@k likewise is the mean length.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["pass_at_k", "mean_pass_at_k", "avg_at_k", "len_at_k", "check_k"]


def check_k(n: int, k: int) -> None:
    """Raise a clear error unless 1 <= k <= n."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got k={k}")
    if k > n:
        raise ValueError(
            f"k={k} exceeds the number of samples per problem n={n}; the unbiased estimator needs "
            f"k <= n. Generate at least {k} samples per problem (e.g. eval.n={k})."
        )


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem: 1 - C(n-c, k) / C(n, k).

    Computed as 1 - prod_{i=n-c+1}^{n} (1 - k / i), which avoids huge binomials.
    """
    n, c, k = int(n), int(c), int(k)
    check_k(n, k)
    if not 0 <= c <= n:
        raise ValueError(f"number of correct samples c={c} must be in [0, n={n}]")
    if n - c < k:  # every k-subset contains a correct sample
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1, dtype=np.float64)))


def mean_pass_at_k(ns: Sequence[int], cs: Sequence[int], k: int) -> float:
    """pass@k averaged over problems (the benchmark-level number the paper reports)."""
    if len(ns) != len(cs):
        raise ValueError(f"ns and cs differ in length ({len(ns)} vs {len(cs)})")
    if len(ns) == 0:
        raise ValueError("no problems to average over")
    return float(np.mean([pass_at_k(n, c, k) for n, c in zip(ns, cs)]))


def avg_at_k(ns: Sequence[int], cs: Sequence[int], k: int) -> float:
    """avg@k: expected accuracy of k samples, averaged over problems.

    The unbiased estimate of the mean accuracy over k samples is c/n for any k <= n; the k only
    has to be admissible (k <= n for every problem).
    """
    if len(ns) == 0:
        raise ValueError("no problems to average over")
    for n in ns:
        check_k(int(n), k)
    return float(np.mean([c / n for n, c in zip(ns, cs)]))


def len_at_k(lengths_per_problem: Iterable[Sequence[float]], k: int) -> float:
    """len@k: mean response length (tokens) over samples, averaged over problems (k <= n)."""
    means = []
    for lengths in lengths_per_problem:
        check_k(len(lengths), k)
        means.append(float(np.mean(lengths)))
    if not means:
        raise ValueError("no problems to average over")
    return float(np.mean(means))
