"""Interval estimates over seeds, in plain numpy: the run (seed) is the resampling unit.

One training run produces the scores on every benchmark, every K and every evaluation step, so the
cells of a table are *not* independent tasks: a lucky seed is lucky on all of them. Every interval
here therefore resamples whole runs, jointly across all the cells those runs produced.

Shape convention: ``values`` is a ``[runs, cells]`` matrix (one row per seed, one column per cell,
e.g. benchmark x K); an aggregate is the mean over cells, so it is a per-run scalar (the row mean)
and the joint bootstrap is the bootstrap of those row means. Aggregates count each distinct
estimand once (callers drop duplicate cells such as Avg@8 and Avg@16, both c/n of the same samples).

- ``run_bootstrap``: mean over runs of the mean over cells with (a) the percentile interval of the
  seed bootstrap (rows resampled with replacement) and (b) the Student-t interval over the per-run
  means. ``primary`` picks the one tables, figures and claims show first: the t-interval with fewer
  than ``MIN_SEEDS_BOOTSTRAP`` runs (a bootstrap over 3 seeds has only 10 distinct resamples and
  covers far less than 95%), the bootstrap otherwise.
- ``paired_comparison``: method vs baseline on runs paired by seed (same row = same seed). Per run
  the difference of the cell means is one number; it is resampled by run. Also the probability of
  improvement P(x > y) + 0.5 P(x = y) over (run, cell) pairs, its interval by the same resampling.
- ``stratified_bootstrap``: rliable's ``StratifiedBootstrap`` (runs resampled *within each task
  independently*). Correct only when every task has its own independent runs; kept for that case
  and as the reference the tests compare with rliable. Tables do not use it.

With a single run there is no spread to resample: intervals are NaN rather than a zero-width
interval that would look like certainty.
"""

from __future__ import annotations

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


# ---------------------------------------------------------------------------------------------------
# runs as the unit
# ---------------------------------------------------------------------------------------------------

MIN_SEEDS_BOOTSTRAP = 5  # below this, the t-interval is the primary interval

CONVENTION = (f"Intervals are 95% intervals over seeds with the run as the unit: each run's scores on all "
              f"cells are resampled together (seed bootstrap, percentile interval), and aggregates count each "
              f"distinct estimand once. With fewer than {MIN_SEEDS_BOOTSTRAP} seeds the bootstrap is crude (3 "
              f"seeds have 10 distinct resamples) and the Student-t interval over the per-seed values is shown "
              f"as well and used for figure bands and claim verdicts.")


@dataclass(frozen=True)
class RunEstimate:
    """Mean over runs of the per-run mean over cells, with both intervals."""

    mean: float
    lo: float  # seed-bootstrap percentile interval
    hi: float
    t_lo: float  # Student-t interval over the per-run values
    t_hi: float
    n_runs: int
    n_cells: int

    def primary(self) -> tuple[float, float, str]:
        """(lo, hi, kind): the t-interval below ``MIN_SEEDS_BOOTSTRAP`` runs, else the bootstrap."""
        if self.n_runs < MIN_SEEDS_BOOTSTRAP:
            return self.t_lo, self.t_hi, "t"
        return self.lo, self.hi, "bootstrap"


def _matrix(values, what: str = "values") -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2 or v.shape[0] == 0 or v.shape[1] == 0:
        raise ValueError(f"{what} must be a non-empty [runs, cells] matrix, got shape {v.shape}")
    if np.isnan(v).any():
        raise ValueError(f"{what} contain NaN; keep only the runs that have every cell (a run-level "
                         f"resample needs each run's full row)")
    return v


def t_interval(per_run: np.ndarray, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Student-t interval of the mean of ``per_run`` (NaN with fewer than 2 values)."""
    x = np.asarray(per_run, dtype=np.float64)
    n = x.size
    if n < 2:
        return float("nan"), float("nan")
    from scipy.special import stdtrit  # Student-t quantile; scipy.special imports in half scipy.stats' time

    half = float(stdtrit(n - 1, 0.5 + confidence / 2.0)) * float(x.std(ddof=1)) / np.sqrt(n)
    m = float(x.mean())
    return m - half, m + half


def _boot_rows(per_run: np.ndarray, reps: int, random_state: int) -> np.ndarray:
    """[reps] means of ``per_run`` resampled with replacement (one index draw per replicate)."""
    rng = np.random.default_rng(random_state)
    idx = rng.integers(0, per_run.size, size=(reps, per_run.size))  # [reps, runs]
    return per_run[idx].mean(axis=1)


def run_bootstrap(values, *, reps: int = DEFAULT_REPS, random_state: int = DEFAULT_RANDOM_STATE,
                  confidence: float = DEFAULT_CONFIDENCE) -> RunEstimate:
    """Mean over cells of the mean over runs; runs resampled jointly across cells.

    ``values``: ``[runs, cells]`` (or 1-D: one cell), no NaN; the columns are the distinct estimands.
    """
    v = _matrix(values)
    per_run = v.mean(axis=1)  # [runs]
    point = float(per_run.mean())
    nan = float("nan")
    if per_run.size < 2:
        return RunEstimate(point, nan, nan, nan, nan, int(per_run.size), int(v.shape[1]))
    lo, hi = _percentiles(_boot_rows(per_run, reps, random_state), confidence)
    tlo, thi = t_interval(per_run, confidence)
    return RunEstimate(point, lo, hi, tlo, thi, int(per_run.size), int(v.shape[1]))


@dataclass(frozen=True)
class Comparison:
    """``x`` vs baseline ``y`` on seed-paired runs, aggregated over cells (runs resampled jointly)."""

    diff: float
    diff_lo: float  # seed bootstrap
    diff_hi: float
    p_improve: float
    p_lo: float
    p_hi: float
    n_pairs: int
    n_tasks: int  # cells
    t_lo: float = float("nan")  # Student-t interval of the mean per-seed difference
    t_hi: float = float("nan")

    def primary(self) -> tuple[float, float, str]:
        if self.n_pairs < MIN_SEEDS_BOOTSTRAP:
            return self.t_lo, self.t_hi, "t"
        return self.diff_lo, self.diff_hi, "bootstrap"


def _win(d: np.ndarray, atol: float) -> np.ndarray:
    return np.where(np.abs(d) <= atol, 0.5, (d > 0).astype(np.float64))


def _paired_matrix(v, what: str) -> np.ndarray:
    if isinstance(v, (list, tuple)) and v and not np.isscalar(v[0]):
        cols = [np.asarray(c, dtype=np.float64).ravel() for c in v]
        if len({c.size for c in cols}) > 1:
            raise ValueError(f"{what}: every cell must hold the same seeds (sizes {[c.size for c in cols]}); "
                             f"runs are resampled jointly across cells, so keep the seeds that have every cell")
        v = np.column_stack(cols)
    return _matrix(v, what)


def paired_comparison(x, y, *, reps: int = DEFAULT_REPS, random_state: int = DEFAULT_RANDOM_STATE,
                      confidence: float = DEFAULT_CONFIDENCE, atol: float = 1e-9) -> Comparison:
    """Paired (by seed) difference x - y and probability of improvement, runs resampled jointly.

    ``x``, ``y``: ``[runs, cells]`` matrices (or lists of per-cell arrays) whose row i is the same
    seed in both; the columns are the distinct estimands.
    """
    xs, ys = _paired_matrix(x, "x"), _paired_matrix(y, "y")
    if xs.shape != ys.shape:
        raise ValueError(f"x and y must hold the same seeds and cells (shapes {xs.shape} vs {ys.shape})")
    d = xs - ys  # [runs, cells]
    per_run = d.mean(axis=1)  # [runs]
    wins = _win(d, atol).mean(axis=1)  # [runs]
    diff, p = float(per_run.mean()), float(wins.mean())
    n, c = int(d.shape[0]), int(d.shape[1])
    nan = float("nan")
    if n < 2:
        return Comparison(diff, nan, nan, p, nan, nan, n, c)
    rng = np.random.default_rng(random_state)
    idx = rng.integers(0, n, size=(reps, n))  # the same seeds for the difference and the wins
    dlo, dhi = _percentiles(per_run[idx].mean(axis=1), confidence)
    plo, phi = _percentiles(wins[idx].mean(axis=1), confidence)
    tlo, thi = t_interval(per_run, confidence)
    return Comparison(diff, dlo, dhi, p, plo, phi, n, c, tlo, thi)


def verdict(lo: float, hi: float, direction: int) -> str:
    """``holds`` when the interval lies on the claimed side of 0 (``direction`` +1: positive, -1:
    negative), ``contradicted`` when it lies on the other side, ``inconclusive`` otherwise (or NaN)."""
    if np.isnan(lo) or np.isnan(hi):
        return "inconclusive"
    if direction * lo > 0 and direction * hi > 0:
        return "holds"
    if direction * lo < 0 and direction * hi < 0:
        return "contradicted"
    return "inconclusive"
