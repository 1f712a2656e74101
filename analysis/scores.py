"""Per-run scores from per-problem counts: pass@k, avg@k, len@k for every (run, benchmark, eval step).

``step_scores(runs)`` is the one wide frame every table and training curve reads: one row per
(run_id, benchmark, eval_step) with ``pass@<k>`` for each computed k (percent), ``avg`` (percent,
= avg@k for every admissible k), ``len`` (tokens, = len@k), ``n_min`` (the smallest number of
samples of a problem: k is admissible when k <= n_min) and ``n_problems``.

Percentages are 100 x the unbiased estimators of ``core.metrics``; pass@k is vectorised over
problems (``core.metrics.pass_at_k_curve``, one running product per k).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.load import Issue, Runs
from core.metrics import pass_at_k_curve

PAPER_KS = (1, 8, 16, 32)


def ks_for(n_max: int) -> list[int]:
    """The k values scored: powers of two, the paper's k, and n itself, all <= n_max."""
    ks = {1, n_max} | {k for k in PAPER_KS if k <= n_max}
    k = 2
    while k <= n_max:
        ks.add(k)
        k *= 2
    return sorted(ks)


def _pass_matrix(n: np.ndarray, c: np.ndarray, ks: list[int]) -> np.ndarray:
    """[len(ks), problems] unbiased pass@k; NaN where k > n (inadmissible for that problem)."""
    return pass_at_k_curve(n, c, ks, inadmissible="nan")


def step_scores(runs: Runs) -> pd.DataFrame:
    """Wide per-(run, benchmark, eval_step) scores (cached on ``runs``)."""
    if "step_scores" in runs.cache:
        return runs.cache["step_scores"]
    p = runs.problems
    cols = ["run_id", "benchmark", "eval_step", "avg", "len", "n_min", "n_problems"]
    if p.empty:
        out = pd.DataFrame(columns=cols)
        runs.cache["step_scores"], runs.cache["ks"] = out, []
        return out
    n = p["n"].to_numpy(np.int64)
    c = p["c"].to_numpy(np.int64)
    ks = sorted(set().union(*(ks_for(int(v)) for v in np.unique(n))))  # every run's own n is a scored k
    mat = _pass_matrix(n, c, ks)  # [K, problems]
    frame = pd.DataFrame({f"pass@{k}": mat[i] * 100.0 for i, k in enumerate(ks)})
    frame["avg"] = c / n * 100.0
    frame["len"] = p["len_mean"].to_numpy()
    frame["n"] = n
    keys = ["run_id", "benchmark", "eval_step"]
    for key in keys:
        frame[key] = p[key].to_numpy()
    g = frame.groupby(keys, sort=True, observed=True)
    # mean over problems; pass@k with skipna=False so a single inadmissible problem voids the k
    pcols = [f"pass@{k}" for k in ks]
    agg = g[pcols + ["avg", "len"]].mean()
    inadmissible = frame[pcols].isna().groupby([frame[k] for k in keys], sort=True, observed=True).any()
    agg[pcols] = agg[pcols].mask(inadmissible.to_numpy())
    agg["n_min"] = g["n"].min()
    agg["n_problems"] = g["n"].size()
    out = agg.reset_index()
    runs.cache["step_scores"], runs.cache["ks"] = out, ks
    return out


def value(scores: pd.DataFrame, metric: str, k: int) -> pd.Series:
    """metric@k from the wide frame; NaN where k exceeds the samples per problem."""
    if metric == "pass":
        col = f"pass@{k}"
        if col not in scores.columns:
            return pd.Series(np.nan, index=scores.index)
        return scores[col]
    if metric in ("avg", "len"):
        return scores[metric].where(scores["n_min"] >= k)
    raise ValueError(f"unknown metric {metric!r}; expected pass, avg or len")


def largest_admissible_k(scores: pd.DataFrame, k: int) -> int:
    """The k to use for a wanted k: k itself, or the largest k <= n that was scored."""
    if scores.empty:
        return k
    n = int(scores["n_min"].min())
    if k <= n:
        return k
    ks = [kk for kk in ks_for(n) if kk <= n]
    return max(ks)


def eval_step_rows(runs: Runs, run_ids: list[str], which, issues: list[Issue] | None = None) -> pd.DataFrame:
    """The rows of ``step_scores`` for ``run_ids`` at one evaluation step each.

    ``which``: ``"final"`` (each run's largest eval_step over all its benchmarks), ``"base"``
    (eval_step 0, the policy before training) or an int eval_step. A run/benchmark without that
    step is left out (and reported once per run when ``issues`` is given).
    """
    s = step_scores(runs)
    s = s[s["run_id"].isin(run_ids)]
    if s.empty:
        return s
    if which == "final":
        last = s.groupby("run_id")["eval_step"].transform("max")
        out = s[s["eval_step"] == last]
        if issues is not None:
            full = s.groupby("run_id")["benchmark"].nunique()
            got = out.groupby("run_id")["benchmark"].nunique()
            for rid in full.index:
                if got.get(rid, 0) < full[rid]:
                    issues.append(Issue("warning", rid, f"final eval_step {int(last[s['run_id'] == rid].iloc[0])} "
                                                        f"lacks some benchmarks that earlier steps have"))
        return out
    step = 0 if which == "base" else int(which)
    out = s[s["eval_step"] == step]
    if issues is not None:
        for rid in sorted(set(run_ids) - set(out["run_id"])):
            if rid in set(s["run_id"]):
                issues.append(Issue("warning", rid, f"no eval_step {step} in samples/; left out of "
                                                    f"{'the base row' if which == 'base' else 'the tables'}"))
    return out
