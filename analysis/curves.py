"""Statistics behind the figures, as tidy frames (no plotting here).

Curves aggregate over the seeds of one arm: ``mean``, ``lo`` and ``hi`` (the 95% interval over seeds
that the tables use, ``stats.RunEstimate.primary``: the Student-t interval below 5 seeds, the seed
bootstrap otherwise; NaN with one seed) per x value, ``n`` seeds contributing, and ``kind`` (which
interval). The band of a figure is therefore the interval printed in the tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.load import Runs
from analysis.scores import largest_admissible_k, ks_for, step_scores, value
from analysis.select import Arm
from analysis.stats import run_bootstrap


CURVE_COLS = ["mean", "n", "lo", "hi", "kind"]


def interval_over_seeds(values: np.ndarray) -> tuple[float, float, float, str]:
    """(mean, lo, hi, kind) of one x value's per-seed values, with the tables' convention."""
    est = run_bootstrap(np.asarray(values, dtype=np.float64), reps=1000)
    lo, hi, kind = est.primary()
    return est.mean, lo, hi, kind


def _over_seeds(df: pd.DataFrame, x: str) -> pd.DataFrame:
    """Mean, 95% interval (``interval_over_seeds``) and count over runs of ``value`` per ``x``."""
    rows = []
    for xv, g in df.groupby(x, sort=True):
        v = g["value"].to_numpy(float)
        m, lo, hi, kind = interval_over_seeds(v)
        rows.append((xv, m, v.size, lo, hi, kind))
    return pd.DataFrame(rows, columns=[x, *CURVE_COLS])


def train_curve(runs: Runs, arm: Arm, metric: str = "train/entropy") -> pd.DataFrame:
    """``metric`` from train.jsonl per optimizer step, over the arm's seeds."""
    t = runs.train
    if metric not in t.columns:
        return pd.DataFrame(columns=["step", *CURVE_COLS])
    t = t[t["run_id"].isin(arm.run_ids)][["run_id", "step", metric]].dropna()
    return _over_seeds(t.rename(columns={metric: "value"}), "step")


def stage_starts(runs: Runs, arm: Arm) -> list[float]:
    """Optimizer steps at which a new curriculum stage begins (from the arm's first run with train logs)."""
    t = runs.train
    for rid in arm.run_ids:
        r = t[t["run_id"] == rid].sort_values("step")
        if r.empty or "stage" not in r:
            continue
        change = r["stage"].diff().fillna(0) > 0
        return [float(s) for s in r.loc[change, "step"]]
    return []


def eval_rows(runs: Runs, arm: Arm, benchmark: str | None) -> pd.DataFrame:
    s = step_scores(runs)
    s = s[s["run_id"].isin(arm.run_ids)]
    if benchmark is not None:
        s = s[s["benchmark"] == benchmark]
    return s


def eval_curve(runs: Runs, arm: Arm, metric: str, k: int, benchmark: str | None) -> pd.DataFrame:
    """metric@k per eval_step over the arm's seeds, on one benchmark or (``None``) the mean over all
    benchmarks the run evaluated at that step."""
    s = eval_rows(runs, arm, benchmark)
    if s.empty:
        return pd.DataFrame(columns=["eval_step", *CURVE_COLS])
    s = s.assign(value=value(s, metric, k).to_numpy())
    if benchmark is None:
        nb = s.groupby("run_id")["benchmark"].nunique().rename("nb")
        per = s.groupby(["run_id", "eval_step"]).agg(value=("value", "mean"), cnt=("value", "count")).reset_index()
        per = per.merge(nb, on="run_id")
        s = per[per["cnt"] == per["nb"]]  # only steps at which every benchmark was scored
    return _over_seeds(s[["eval_step", "value"]].dropna(), "eval_step")


def k_curves(runs: Runs, arm: Arm, step="final") -> pd.DataFrame:
    """pass@k and avg@k against k (every scored k <= n) per benchmark at each run's final (or a given)
    eval step: ``benchmark, metric, k, mean, n, lo, hi, kind``."""
    s = eval_rows(runs, arm, None)
    cols = ["benchmark", "metric", "k", *CURVE_COLS]
    if s.empty:
        return pd.DataFrame(columns=cols)
    if step == "final":
        s = s[s["eval_step"] == s.groupby("run_id")["eval_step"].transform("max")]
    else:
        s = s[s["eval_step"] == int(step)]
    rows = []
    for bench, sb in s.groupby("benchmark"):
        ks = ks_for(int(sb["n_min"].min()))
        for metric in ("pass", "avg"):
            v = np.column_stack([value(sb, metric, k).to_numpy(float) for k in ks])  # [runs, K]
            for j, k in enumerate(ks):
                col = v[:, j][~np.isnan(v[:, j])]
                if col.size:
                    m, lo, hi, kind = interval_over_seeds(col)
                    rows.append((bench, metric, k, m, col.size, lo, hi, kind))
    return pd.DataFrame(rows, columns=cols)


def admissible_k(runs: Runs, arms: list[Arm], k: int) -> int:
    """The largest k <= wanted k that every arm's runs admit (k <= samples per problem)."""
    s = step_scores(runs)
    ids = [r for a in arms for r in a.run_ids]
    return largest_admissible_k(s[s["run_id"].isin(ids)], k)


def token_entropy_hist(runs: Runs, run_ids: list[str], first_step_only: bool = True) -> pd.DataFrame:
    """Token-entropy histogram pooled over runs: ``left, right, count, freq`` (freq sums to 1).
    With ``first_step_only`` each run contributes its first logged step (closest to the initial policy)."""
    h = runs.token_hist
    h = h[(h["kind"] == "entropy") & h["run_id"].isin(run_ids)]
    if h.empty:
        return pd.DataFrame(columns=["left", "right", "count", "freq"])
    if first_step_only:
        first = h.groupby("run_id")["step"].transform("min")
        h = h[h["step"] == first]
    out = h.groupby(["left", "right"], as_index=False)["count"].sum()
    total = out["count"].sum()
    out["freq"] = out["count"] / total if total > 0 else 0.0
    return out


def token_set_top(runs: Runs, run_ids: list[str], which: str, top: int = 20) -> pd.DataFrame:
    """The ``top`` most frequent decoded tokens of the low- or high-entropy set, pooled over runs and steps,
    with their share of the set's tokens."""
    s = runs.token_sets
    s = s[(s["set"] == which) & s["run_id"].isin(run_ids)]
    if s.empty:
        return pd.DataFrame(columns=["token", "count", "share"])
    out = s.groupby("token", as_index=False)["count"].sum()
    out["share"] = out["count"] / out["count"].sum()
    return out.sort_values(["count", "token"], ascending=[False, True]).head(top).reset_index(drop=True)


def semantic_entropy_values(runs: Runs, run_ids: list[str]) -> np.ndarray:
    se = runs.semantic_entropy
    se = se[se["run_id"].isin(run_ids)]
    return pd.to_numeric(se["semantic_entropy"], errors="coerce").dropna().to_numpy(float)
