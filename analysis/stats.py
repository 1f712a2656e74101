"""Interval estimates over seeds, rliable-style, in plain numpy.

Shape convention (as in rliable): a score set is a list with one 1-D array per *task* (stratum),
holding one score per run (seed) on that task; tasks may have different numbers of runs. A table
cell is one task; an "Avg." entry is the mean over its tasks (benchmarks, or benchmarks x K).

- ``stratified_bootstrap``: resample runs with replacement *within each task* independently
  (rliable's ``StratifiedBootstrap``), recompute the aggregate (mean over tasks of the mean over
  runs), and take the percentile interval. ``random_state`` fixes the draws; every call starts
  from the same state, so a cell's interval does not depend on what else was computed.
- ``paired_comparison``: method vs baseline on runs paired by seed. Per task the paired
  differences d_s = x_s - y_s are resampled by seed (stratified over tasks as above). Reports the
  mean difference and the probability of improvement P(x > y) + 0.5 P(x = y), the latter estimated
  on the pairs (rliable's ``probability_of_improvement`` compares all unpaired run pairs; pairing
  by seed uses the shared seed as the design does) and averaged over tasks, each with its interval.

With a single run per task there is no spread to resample: the interval is reported as NaN rather
than a zero-width interval that would look like certainty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_REPS = 2000
DEFAULT_RANDOM_STATE = 0
DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    """Point estimate with a percentile interval; ``n_runs`` per task (min over tasks)."""

    mean: float
    lo: float
    hi: float
    n_runs: int
    n_tasks: int


def _as_tasks(scores) -> list[np.ndarray]:
    if isinstance(scores, np.ndarray) and scores.ndim == 2:  # [runs, tasks], NaN = missing
        cols = [scores[:, t] for t in range(scores.shape[1])]
        return [c[~np.isnan(c)] for c in cols]
    return [np.asarray(s, dtype=np.float64).ravel() for s in scores]


def _percentiles(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    a = (1.0 - confidence) / 2.0 * 100.0
    lo, hi = np.percentile(draws, [a, 100.0 - a])
    return float(lo), float(hi)


def _resample_means(tasks: list[np.ndarray], reps: int, rng: np.random.Generator) -> np.ndarray:
    """[reps, n_tasks] bootstrap means, runs resampled within each task."""
    out = np.empty((reps, len(tasks)), dtype=np.float64)
    for t, x in enumerate(tasks):
        idx = rng.integers(0, x.size, size=(reps, x.size))   # [reps, n_t]
        out[:, t] = x[idx].mean(axis=1)                       # [reps]
    return out


def stratified_bootstrap(scores, *, reps: int = DEFAULT_REPS, random_state: int = DEFAULT_RANDOM_STATE,
                         confidence: float = DEFAULT_CONFIDENCE) -> Estimate:
    """Mean over tasks of the mean over runs, with a stratified-bootstrap percentile interval.

    ``scores``: list of per-task 1-D arrays, or a [runs, tasks] array with NaN for missing.
    """
    tasks = _as_tasks(scores)
    if not tasks or any(t.size == 0 for t in tasks):
        raise ValueError("every task needs at least one run score")
    if any(np.isnan(t).any() for t in tasks):
        raise ValueError("scores contain NaN; drop missing runs before bootstrapping")
    point = float(np.mean([t.mean() for t in tasks]))
    n_runs = min(t.size for t in tasks)
    if max(t.size for t in tasks) < 2:
        return Estimate(point, float("nan"), float("nan"), n_runs, len(tasks))
    rng = np.random.default_rng(random_state)
    draws = _resample_means(tasks, reps, rng).mean(axis=1)    # [reps]
    lo, hi = _percentiles(draws, confidence)
    return Estimate(point, lo, hi, n_runs, len(tasks))


@dataclass(frozen=True)
class Comparison:
    """``x`` vs baseline ``y`` on seed-paired runs, aggregated over tasks."""

    diff: float
    diff_lo: float
    diff_hi: float
    p_improve: float
    p_lo: float
    p_hi: float
    n_pairs: int  # min over tasks
    n_tasks: int


def _win(d: np.ndarray, atol: float) -> np.ndarray:
    return np.where(np.abs(d) <= atol, 0.5, (d > 0).astype(np.float64))


def paired_comparison(x: Sequence[np.ndarray], y: Sequence[np.ndarray], *, reps: int = DEFAULT_REPS,
                      random_state: int = DEFAULT_RANDOM_STATE, confidence: float = DEFAULT_CONFIDENCE,
                      atol: float = 1e-9) -> Comparison:
    """Paired (by seed) difference x - y and probability of improvement, stratified over tasks.

    ``x[t]`` and ``y[t]`` hold task t's scores for the *same* seeds in the same order.
    """
    xs, ys = _as_tasks(x), _as_tasks(y)
    if len(xs) != len(ys) or not xs:
        raise ValueError(f"x and y need the same, non-zero number of tasks ({len(xs)} vs {len(ys)})")
    ds = []
    for t, (a, b) in enumerate(zip(xs, ys)):
        if a.shape != b.shape or a.size == 0:
            raise ValueError(f"task {t}: x and y must hold the same seeds ({a.size} vs {b.size} scores)")
        ds.append(a - b)
    diff = float(np.mean([d.mean() for d in ds]))
    p = float(np.mean([_win(d, atol).mean() for d in ds]))
    n_pairs = min(d.size for d in ds)
    if max(d.size for d in ds) < 2:
        nan = float("nan")
        return Comparison(diff, nan, nan, p, nan, nan, n_pairs, len(ds))
    rng = np.random.default_rng(random_state)
    diff_draws = np.empty((reps, len(ds)))
    win_draws = np.empty((reps, len(ds)))
    for t, d in enumerate(ds):
        idx = rng.integers(0, d.size, size=(reps, d.size))   # [reps, n_t], same seeds for x and y
        diff_draws[:, t] = d[idx].mean(axis=1)
        win_draws[:, t] = _win(d, atol)[idx].mean(axis=1)
    dlo, dhi = _percentiles(diff_draws.mean(axis=1), confidence)
    plo, phi = _percentiles(win_draws.mean(axis=1), confidence)
    return Comparison(diff, dlo, dhi, p, plo, phi, n_pairs, len(ds))

