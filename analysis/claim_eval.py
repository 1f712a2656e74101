"""How each kind of claim is evaluated: the claim's parts, each a paired-by-seed difference.

Owns the evaluators named by a claim's ``kind`` (``EVALUATORS``; the claims themselves are data,
``analysis/reference/claims.yaml``, read by ``claims``), the per-build cache of table cells they
share with the tables (``Context``) and the overall verdict of a claim (``overall``). Every part is
one row of ``claims.csv``: a paired-by-seed difference with its 95% interval (``stats``' primary
interval: Student-t below 5 seeds, seed bootstrap otherwise), verdict ``holds`` / ``contradicted``
/ ``inconclusive``, or ``not testable with these runs`` with the reason.

May import: numpy, pandas and the analysis modules ``cells``, ``load``, ``paper``, ``render``,
``select`` and ``stats``. No method key appears here: the claims name them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.cells import distinct_cells, our_cells, resolve_arms, seed_matrix
from analysis.load import Runs
from analysis.paper import BENCH_LABEL, TABLES, TWIN_OF, method_label, metric_header, model_label
from analysis.render import contestant_label
from analysis.select import method_arm
from analysis.stats import paired_comparison, run_bootstrap, verdict

if TYPE_CHECKING:
    from analysis.claims import Claim

ROLE_1P5B = ("tiny", "r1_distill_qwen_1p5b")
NOT_TESTABLE = "not testable with these runs"
ENTROPY_WINDOW = 0.1  # first / last 10% of the training steps (at least one step)
SUMMARY_PART = "summary part, not counted in the verdict"


class Context:
    """Per-build cache of table cell values (the same numbers the tables print)."""

    def __init__(self, runs: Runs):
        self.runs = runs
        self.meta = runs.usable_meta()
        self._cells: dict = {}

    def model(self) -> str | None:
        """The 1.5B-role model the claims are tested on: the paper's model if it has runs, else the twin."""
        if self.meta.empty:
            return None
        have = set(self.meta["model"])
        for m in reversed(ROLE_1P5B):
            if m in have:
                return m
        return None

    def table(self, name: str, model: str):
        """(arms, values {(contestant, bench, metric, k): (seeds, values)}, spec with the K used)."""
        key = (name, model)
        if key not in self._cells and ("table_cells", name, model) in self.runs.cache:  # the table's own numbers
            self._cells[key] = self.runs.cache[("table_cells", name, model)]
        if key not in self._cells:
            spec = TABLES[name]
            arms = resolve_arms(spec, self.meta, model, [])
            if all(a is None for a in arms.values()):
                self._cells[key] = (arms, {}, spec)
            else:
                _, values, _, _, used, _ = our_cells(spec, self.runs, model, arms, [])
                self._cells[key] = (arms, values, used)
        return self._cells[key]


def _row(claim: Claim, part: str, model: str, cmp=None, *, n=0, est=np.nan, lo=np.nan, hi=np.nan, kind="",
         direction: int = +1, detail: str = "", verdict_text: str | None = None) -> dict:
    if cmp is not None:
        lo, hi, kind = cmp.primary()
        est, n = cmp.diff, cmp.n_pairs
    v = verdict_text or (verdict(lo, hi, direction) if n else NOT_TESTABLE)
    if n >= 2 and lo == hi and not np.isnan(lo):
        detail = "; ".join(x for x in (detail, "every seed gives the same difference: a zero-width interval") if x)
    return dict(claim_id=claim.id, source=claim.source, part=part, model=model_label(model) if model else "",
                n_seeds=n, estimate=est, lo=lo, hi=hi, interval=kind, verdict=v, detail=detail)


def _untestable(claim: Claim, part: str, model: str | None, why: str) -> dict:
    return _row(claim, part, model or "", verdict_text=NOT_TESTABLE, detail=why)


def _pair(values: dict, a: str, b: str, cells: list[tuple]):
    """Paired comparison a - b over ``cells`` (bench, metric, k), runs resampled jointly; None if no
    seed has every cell in both."""
    va = {k[1:]: v for k, v in values.items() if k[0] == a}
    vb = {k[1:]: v for k, v in values.items() if k[0] == b}
    cells = [c for c in cells if c in va and c in vb]
    if not cells:
        return None
    sa, ma = seed_matrix(va, cells)
    sb, mb = seed_matrix(vb, cells)
    _, ia, ib = np.intersect1d(sa, sb, return_indices=True)
    if not ia.size:
        return None
    return paired_comparison(ma[ia], mb[ib], reps=2000, random_state=0)


# ---------------------------------------------------------------------------------------------------
# evaluators
# ---------------------------------------------------------------------------------------------------

def _entropy_per_seed(ctx: Context, arm, how: str) -> pd.Series:
    t = ctx.runs.train
    if "train/entropy" not in t.columns:
        return pd.Series(dtype=float)
    t = t[t["run_id"].isin(arm.run_ids)][["run_id", "step", "train/entropy"]].dropna()
    seed_of = dict(zip(arm.run_ids, arm.seeds))
    out = {}
    for rid, g in t.groupby("run_id"):
        g = g.sort_values("step")
        x = g["train/entropy"].to_numpy(float)
        if x.size < 2:
            continue
        w = max(1, int(round(ENTROPY_WINDOW * x.size)))
        if how == "change":
            out[seed_of[rid]] = float(x[-w:].mean() - x[:w].mean())
        else:  # second half of training
            out[seed_of[rid]] = float(x[x.size // 2:].mean())
    return pd.Series(out, dtype=float).sort_index()


def _eval_entropy_change(claim: Claim, ctx: Context) -> list[dict]:
    model = ctx.model()
    m = claim.params["method"]
    arm = method_arm(ctx.meta, model, m) if model else None
    part = f"{method_label(m)}: entropy change"
    if arm is None:
        return [_untestable(claim, part, model, f"no {method_label(m)} runs on the 1.5B role")]
    d = _entropy_per_seed(ctx, arm, "change")
    if d.empty:
        return [_untestable(claim, part, model, "no train/entropy in train.jsonl")]
    est = run_bootstrap(d.to_numpy(float))
    lo, hi, kind = est.primary()
    first = "first/last 10% of steps"
    return [_row(claim, part, model, n=est.n_runs, est=est.mean, lo=lo, hi=hi, kind=kind,
                 direction=claim.params["direction"], detail=f"nats; {first}; per-seed changes "
                 + ", ".join(f"{v:+.3f}" for v in d))]


def _eval_entropy_vs(claim: Claim, ctx: Context) -> list[dict]:
    model = ctx.model()
    rows = []
    for p in claim.params["parts"]:
        a, b, direction = p["a"], p["b"], p["direction"]
        part = f"{method_label(a)} − {method_label(b)}: entropy, second half"
        arms = {x: method_arm(ctx.meta, model, x) if model else None for x in (a, b)}
        miss = [method_label(x) for x, arm in arms.items() if arm is None]
        if miss:
            rows.append(_untestable(claim, part, model, f"no runs of {', '.join(miss)} on the 1.5B role"))
            continue
        ea, eb = _entropy_per_seed(ctx, arms[a], "late"), _entropy_per_seed(ctx, arms[b], "late")
        common = sorted(set(ea.index) & set(eb.index))
        if not common:
            rows.append(_untestable(claim, part, model, "no seed with train/entropy in both"))
            continue
        cmp = paired_comparison(ea[common].to_numpy(float), eb[common].to_numpy(float))
        rows.append(_row(claim, part, model, cmp, direction=direction, detail="nats"))
    return rows


def _eval_cells(claim: Claim, ctx: Context) -> list[dict]:
    model = ctx.model()
    name, a, b, direction = (claim.params[k] for k in ("table", "a", "b", "direction"))
    spec = TABLES[name]
    if model is None:
        return [_untestable(claim, "all cells", None, "no runs on the 1.5B role")]
    arms, values, used = ctx.table(name, model)
    miss = [method_label(x) for x in (a, b) if arms.get(x) is None]
    if miss:
        return [_untestable(claim, "all cells", model, f"no runs of {', '.join(miss)}")]
    cells = distinct_cells([(bk, m, k) for bk in spec.benchmarks for m, k in used.metrics])
    rows = []
    for bk, m, k in cells:
        bench = _bench_name(values, bk)
        head = metric_header(m, k) if m == "pass" else f"{metric_header(m, k).split('@')[0]}@K"
        part = f"{bench} {head}"
        cmp = _pair(values, a, b, [(bk, m, k)])
        rows.append(_row(claim, part, model, cmp, direction=direction) if cmp else
                     _untestable(claim, part, model, "no seed with this cell in both"))
    cmp = _pair(values, a, b, cells)
    if cmp is not None:
        rows.append(_row(claim, "mean over the cells above", model, cmp, direction=direction,
                         detail=SUMMARY_PART))
    return rows


def _bench_name(values: dict, bk: str) -> str:
    return f"{TWIN_OF[bk]} ({BENCH_LABEL[bk]})" if bk in TWIN_OF else BENCH_LABEL.get(bk, bk)


def _eval_aggregate(claim: Claim, ctx: Context) -> list[dict]:
    model = ctx.model()
    rows = []
    for p in claim.params["parts"]:
        name, a, b, direction = p["table"], p["a"], p["b"], p["direction"]
        spec = TABLES[name]
        diff = f"{contestant_label(spec, a)} − {contestant_label(spec, b)}"
        if model is None:
            rows.append(_untestable(claim, diff, None, "no runs on the 1.5B role"))
            continue
        arms, values, used = ctx.table(name, model)
        for m, k in dict.fromkeys((m, k) for m, k in used.metrics):
            cells = distinct_cells([(bk, m, k) for bk in spec.benchmarks])
            part = f"{diff}: {metric_header(m, k)}, mean over benchmarks"
            miss = [contestant_label(spec, x) for x in (a, b) if arms.get(x) is None]
            if miss:
                rows.append(_untestable(claim, part, model, f"no runs of {', '.join(miss)}"))
                continue
            cmp = _pair(values, a, b, cells)
            rows.append(_row(claim, part, model, cmp, direction=direction,
                             detail="tokens" if m == "len" else "points") if cmp else
                        _untestable(claim, part, model, "no seed shared by both with every benchmark"))
    return rows


EVALUATORS = {"entropy_change": _eval_entropy_change, "entropy_vs": _eval_entropy_vs, "cells": _eval_cells,
              "aggregate": _eval_aggregate}


def overall(rows: list[dict]) -> str:
    parts = [r for r in rows if r["detail"] != SUMMARY_PART]
    vs = [r["verdict"] for r in parts]
    if not vs or all(v == NOT_TESTABLE for v in vs):
        return NOT_TESTABLE
    tested = [v for v in vs if v != NOT_TESTABLE]
    if "contradicted" in tested:
        return "contradicted"
    if all(v == "holds" for v in tested):
        return "holds" if len(tested) == len(vs) else "holds where testable"
    return "inconclusive"
