"""Sample-level metrics: unbiased pass@k, avg@k and len@k, the one implementation of each.

Shared by the evaluation (``core.eval.evaluation`` summarises each evaluation with them) and the
analysis (which rebuilds its tables from ``samples/<benchmark>.jsonl`` with them), and owned by
neither: it lives beside them so that the analysis need not import the evaluation package, and
the evaluation never imports ``analysis``. Pure numpy/stdlib: it imports no torch, no verl and
nothing else of the project.

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

__all__ = ["pass_at_k", "mean_pass_at_k", "avg_at_k", "len_at_k", "check_k", "pass_at_k_array", "pass_at_k_curve"]


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


def pass_at_k_curve(n, c, ks: Sequence[int], *, inadmissible: str = "raise") -> np.ndarray:
    """Unbiased pass@k for many problems and several k at once (vectorised over problems).

    ``n`` and ``c`` are equal-length integer arrays (samples and correct samples per problem);
    returns a float array of shape [len(ks), num_problems]. Uses the running product
    C(n-c, k) / C(n, k) = prod_{j<k} (n-c-j) / (n-j): one multiply per k up to max(ks), so every
    k is exact to float rounding. Once j reaches n-c the factor is 0 and stays 0 (pass@k = 1).

    A k larger than a problem's n has no unbiased estimate: ``inadmissible="raise"`` refuses it
    (``check_k``), ``"nan"`` returns NaN for that problem and k (the analysis, whose runs may mix
    evaluations of different n, decides what to do with it).
    """
    if inadmissible not in ("raise", "nan"):
        raise ValueError(f"inadmissible={inadmissible!r}; use 'raise' or 'nan'")
    n = np.asarray(n, dtype=np.int64)
    c = np.asarray(c, dtype=np.int64)
    if n.shape != c.shape or n.ndim != 1:
        raise ValueError(f"n and c must be 1-D arrays of equal length, got shapes {n.shape} and {c.shape}")
    if n.size == 0:
        raise ValueError("no problems to score")
    if np.any(c < 0) or np.any(c > n):
        bad = int(np.flatnonzero((c < 0) | (c > n))[0])
        raise ValueError(f"number of correct samples c={c[bad]} must be in [0, n={n[bad]}] (problem {bad})")
    ks = [int(k) for k in ks]
    for k in ks:
        check_k(int(n.min()) if inadmissible == "raise" else k, k)
    out = np.empty((len(ks), n.size), dtype=np.float64)
    want = {k: i for i, k in enumerate(ks)}
    ratio = np.ones(n.size, dtype=np.float64)  # C(n-c, j) / C(n, j) for the current j
    nf, wf = n.astype(np.float64), (n - c).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # inf/NaN only where j >= n (masked below)
        for j in range(max(ks)):
            ratio *= np.maximum(wf - j, 0.0) / (nf - j)
            if j + 1 in want:
                out[want[j + 1]] = np.where(n >= j + 1, 1.0 - ratio, np.nan)
    return out


def pass_at_k_array(n, c, k: int) -> np.ndarray:
    """Unbiased pass@k per problem for arrays ``n`` and ``c`` (see ``pass_at_k_curve``)."""
    return pass_at_k_curve(n, c, [k])[0]
