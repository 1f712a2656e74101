"""Rank agreement: Kendall's tau-b between our ordering of each table's contestants and the paper's.

Owns ``RANK_TABLES`` (the tables whose ordering is compared), the paper's score per contestant
(``_paper_order``: its printed Avg., else the mean of its printed cells), the vectorised tau-b
(``kendall_tau_b``) and ``rank_agreement``: one row per (table, model) with a seed-bootstrap
interval, the paper's order held fixed. Written to ``claims_rank_agreement.csv`` and the end of
``claims.md`` by ``claims``.

May import: numpy and the analysis modules ``cells``, ``claim_eval``, ``paper``, ``render``, ``stats``.
"""

from __future__ import annotations

import numpy as np

from analysis.cells import distinct_cells, seed_matrix
from analysis.claim_eval import NOT_TESTABLE, Context
from analysis.paper import PAPER_MODEL_OF, TABLES, load_reference, model_label
from analysis.render import contestant_label
from analysis.stats import MIN_SEEDS_BOOTSTRAP

# tables whose method ordering is compared with the paper's (rank agreement)
RANK_TABLES = ("table01_passk_1p5b", "table02_avgk_1p5b", "table03_7b", "table04_14b", "table05_len16",
               "table06_curriculum", "table07_hparams", "table09_ablation")


def _paper_order(spec, model_name: str) -> dict[str, float]:
    """The paper's score per contestant for this table and model: its Avg. entry if printed, else the
    mean of its printed cells (distinct estimands)."""
    ref = load_reference(spec.name)
    ref = ref[ref["model"] == model_name]
    col = "variant" if spec.variant_kind else "method"
    out = {}
    for c, g in ref.groupby(col, sort=False):
        avg = g[g["metric"] == "avg_all"]
        if not avg.empty:
            out[c] = float(avg["x"].iloc[0])
            continue
        g = g[g["metric"] != "avg_all"]
        keep = g.drop_duplicates(subset=["benchmark"] if (g["metric"] != "pass").all() else ["benchmark", "metric", "k"])
        out[c] = float(keep["x"].mean())
    return out


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row of ``x`` ([..., C]) with ``y`` ([C]), vectorised over rows: (concordant
    - discordant pairs) / sqrt((pairs - pairs tied in x)(pairs - pairs tied in y)); NaN when either is
    all ties (as ``scipy.stats.kendalltau``)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    i, j = np.triu_indices(y.size, k=1)
    sx = np.sign(x[..., i] - x[..., j])  # [..., P]
    sy = np.sign(y[i] - y[j])  # [P]
    num = (sx * sy).sum(axis=-1)
    den = np.sqrt((sx != 0).sum(axis=-1) * float((sy != 0).sum()))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def rank_agreement(ctx: Context, reps: int = 2000, random_state: int = 0) -> list[dict]:
    rows = []
    for name in RANK_TABLES:
        spec = TABLES[name]
        models = [m for m in spec.models if not ctx.meta.empty and m in set(ctx.meta["model"])]
        if not models:
            rows.append(dict(table=spec.roman, name=name, model="", contestants="", n=0, tau=np.nan, lo=np.nan,
                             hi=np.nan, n_seeds=0, note=f"{NOT_TESTABLE}: no runs of {', '.join(spec.models)}"))
            continue
        for model in models:
            arms, values, used = ctx.table(name, model)
            paper = _paper_order(spec, model_label(PAPER_MODEL_OF.get(model, model)))
            cells = distinct_cells([(bk, m, k) for bk in spec.benchmarks for m, k in used.metrics])
            mats = {}
            for c, arm in arms.items():
                if arm is None or c not in paper:
                    continue
                vc = {k[1:]: v for k, v in values.items() if k[0] == c}
                if not all(cell in vc for cell in cells):
                    continue
                s, mtx = seed_matrix(vc, cells)
                if s.size:
                    mats[c] = (s, mtx.mean(axis=1))
            names = list(mats)
            if len(names) < 3:
                rows.append(dict(table=spec.roman, name=name, model=model_label(model),
                                 contestants=", ".join(contestant_label(spec, c) for c in names), n=len(names),
                                 tau=np.nan, lo=np.nan, hi=np.nan, n_seeds=0,
                                 note=f"{NOT_TESTABLE}: fewer than 3 contestants with runs and a paper value"))
                continue
            common = None
            for s, _ in mats.values():
                common = s if common is None else np.intersect1d(common, s)
            ours = np.array([mats[c][1].mean() for c in names])
            ref = np.array([paper[c] for c in names])
            tau = float(kendall_tau_b(ours, ref))  # both ordered by value (Len: the same direction)
            lo = hi = np.nan
            if common is not None and common.size >= 2:
                per = np.column_stack([mats[c][1][np.searchsorted(mats[c][0], common)] for c in names])  # [seeds, C]
                rng = np.random.default_rng(random_state)
                idx = rng.integers(0, common.size, size=(reps, common.size))
                boot = per[idx].mean(axis=1)  # [reps, C]
                taus = kendall_tau_b(boot, ref)  # [reps]
                taus = taus[~np.isnan(taus)]
                if taus.size:
                    lo, hi = (float(v) for v in np.percentile(taus, [2.5, 97.5]))
            n_common = int(common.size) if common is not None else 0
            note = ("undefined: our scores tie for every contestant" if np.isnan(tau) else
                    "ordered by the mean over distinct cells (ours) and the printed Avg. or the mean of the printed "
                    "cells (paper)" + (f"; {n_common} seeds: the interval is crude" if n_common < MIN_SEEDS_BOOTSTRAP
                                       else ""))
            rows.append(dict(table=spec.roman, name=name, model=model_label(model),
                             contestants=", ".join(contestant_label(spec, c) for c in names), n=len(names), tau=tau,
                             lo=lo, hi=hi, n_seeds=n_common, note=note))
    return rows
