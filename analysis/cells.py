"""Our cells of the paper's tables: each (contestant, benchmark, metric@K) value from the runs.

Owns which runs fill which column of a table (``resolve_arms``), the per-seed values of every cell
with their 95% intervals (``our_cells``), the Avg. entry over distinct estimands (``estimand``,
``distinct_cells``, ``seed_matrix``), the Delta row (``delta``) and the paired comparison with GRPO
(``comparisons``). ``tables`` lays these cells out; ``claims`` reuses them. Nothing here renders a
file.

May import: numpy, pandas and the analysis modules ``load``, ``paper``, ``render`` (labels),
``scores``, ``select`` and ``stats``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from analysis.load import Issue, Runs
from analysis.paper import (COV_KEY, EN_KEY, STAGES_VARIANT, TWIN_OF, TableSpec, baseline_method, bench_header,
                            bench_label, delta_contestant, hparam_variant, metric_header, model_label)
from analysis.render import contestant_label, fmt_signed
from analysis.scores import eval_step_rows, step_scores, value
from analysis.select import Arm, hparam_arms, method_arm, stage_arms
from analysis.stats import paired_comparison, run_bootstrap

CELL_COLS = ["model", "model_key", "bench_key", "benchmark", "metric", "k", "contestant", "method", "variant",
             "curriculum_stages", "mean", "lo", "hi", "t_lo", "t_hi", "n_seeds", "seeds", "eval_steps", "text", "x"]


def estimand(metric: str, k) -> tuple:
    """The quantity a (metric, K) cell estimates: pass@k differs per k; avg@k (= c/n) and len@k
    (= mean length) are the same number for every admissible k, so one estimand each."""
    return (metric, int(k)) if metric == "pass" else (metric, None)


def distinct_cells(cells: list[tuple]) -> list[tuple]:
    """``(bench_key, metric, k)`` cells with duplicates of one estimand dropped (first kept)."""
    seen, out = set(), []
    for b, m, k in cells:
        key = (b, *estimand(m, k))
        if key not in seen:
            seen.add(key)
            out.append((b, m, k))
    return out


def seed_matrix(values: dict, cells: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
    """(seeds, [seeds, cells] matrix) of the seeds that have every one of ``cells``; ``values`` maps
    a cell to (seeds, values)."""
    common = None
    for cell in cells:
        s = values[cell][0]
        common = s if common is None else np.intersect1d(common, s)
    common = np.asarray(common if common is not None else [], dtype=int)
    cols = []
    for cell in cells:
        s, v = values[cell]
        _, _, idx = np.intersect1d(common, s, return_indices=True)
        cols.append(v[idx])
    return common, (np.column_stack(cols) if cols else np.empty((0, 0)))


# ---------------------------------------------------------------------------------------------------
# our cells
# ---------------------------------------------------------------------------------------------------

def _bench_map(runs: Runs, run_ids: list[str], spec: TableSpec) -> dict[str, str | None]:
    """paper benchmark key -> the benchmark key our runs used for it (itself or its embedded twin)."""
    s = step_scores(runs)
    present = set(s.loc[s["run_id"].isin(run_ids), "benchmark"])
    out = {}
    for b in spec.benchmarks:
        out[b] = b if b in present else (TWIN_OF[b] if TWIN_OF.get(b) in present else None)
    return out


def resolve_arms(spec: TableSpec, meta: pd.DataFrame, model: str, notes: list[Issue]) -> dict[str, Arm | None]:
    if spec.variant_kind == "stages":
        found = {STAGES_VARIANT.get(n, f"{n}_stage"): a for n, a in sorted(stage_arms(meta, model, notes).items())}
    elif spec.variant_kind == "hparams":
        default = method_arm(meta, model, "sent")
        stages = None
        if default is not None:
            stages = int(meta.loc[meta["run_id"] == default.run_ids[0], "curriculum_stages"].iloc[0])
        found = {hparam_variant(e, c): a for (e, c), a in
                 sorted(hparam_arms(meta, model, EN_KEY, COV_KEY, stages, notes).items())}
    else:
        found = {}
        arm_models = dict(spec.arm_models)
        for c in spec.arms:
            arm = method_arm(meta, arm_models.get(c, model), baseline_method() if c == "base" else c, notes)
            if arm is not None and c == "base":
                arm = Arm("base", model, arm.run_ids, arm.seeds, arm.setting + " at eval_step 0")  # notes: GRPO's
            found[c] = arm
    ordered = {c: found.pop(c, None) for c in spec.arms}
    ordered.update(found)  # settings the paper does not have (e.g. another en/cov pair) go last
    return ordered


def _arm_method(arm: Arm, contestant: str, meta: pd.DataFrame) -> str:
    if contestant in ("base", "cur"):
        return contestant
    return str(meta.loc[meta["run_id"] == arm.run_ids[0], "method"].iloc[0])


def _arm_rows(runs: Runs, arm: Arm, which, bmap: dict, notes: list[Issue]) -> pd.DataFrame:
    """One arm's per-(run, benchmark) score rows at its evaluation step, with bench_key and seed."""
    sc = eval_step_rows(runs, arm.run_ids, which, notes)
    inv = {ob: b for b, ob in bmap.items() if ob}
    seed_of = dict(zip(arm.run_ids, arm.seeds))
    sc = sc.assign(bench_key=sc["benchmark"].map(inv), seed=sc["run_id"].map(seed_of))
    return sc[sc["bench_key"].notna()]


def _long(sc: pd.DataFrame, metrics) -> pd.DataFrame:
    """Long frame (bench_key, metric, k, seed, value, eval_step) of ``metrics`` from score rows."""
    parts = [pd.DataFrame({"bench_key": sc["bench_key"].to_numpy(), "metric": metric, "k": k,
                           "seed": sc["seed"].to_numpy(), "value": value(sc, metric, k).to_numpy(),
                           "eval_step": sc["eval_step"].to_numpy()}) for metric, k in metrics]
    return pd.concat(parts, ignore_index=True)


def effective_metrics(spec: TableSpec, n_max: int | None, scored_ks: list[int]) -> tuple[list, list[str]]:
    """The paper's (metric, K) list, with every K that no column can estimate (K > the largest samples
    per problem, ``n_max``) replaced by the largest scored k <= n_max; duplicates dropped. Returns the
    list and a note per replacement."""
    if n_max is None:
        return list(spec.metrics), []
    cap = max(k for k in scored_ks if k <= n_max)
    out, replaced = [], []
    for metric, k in spec.metrics:
        ke = k if k <= n_max else cap
        if ke != k and k not in replaced:
            replaced.append(k)
        if (metric, ke) not in out:
            out.append((metric, ke))
    if not replaced:
        return out, []
    return out, [f"K={', '.join(map(str, replaced))} need(s) more samples per problem than the runs have (at most "
                 f"{n_max}): shown at k={cap}, the largest admissible k"]


def our_cells(spec: TableSpec, runs: Runs, model: str, arms: dict[str, Arm | None], notes: list[Issue]):
    """Cell frame (CELL_COLS), per-cell seed values {(contestant, bench_key, metric, k): (seeds, values)},
    the benchmark map, the cells without a value (with the reason), the spec with the K values actually
    used (``effective_metrics``) and a note per replaced K."""
    opts = runs.options
    boot = dict(reps=opts.reps, random_state=opts.random_state, confidence=opts.confidence)
    meta = runs.usable_meta()
    all_ids = [r for a in arms.values() if a is not None for r in a.run_ids]
    bmap = _bench_map(runs, all_ids, spec)
    rows, values, missing = [], {}, []
    scs = {c: _arm_rows(runs, arm, "base" if c == "base" else opts.eval_step, bmap, notes)
           for c, arm in arms.items() if arm is not None}
    n_mins = [int(sc["n_min"].min()) for sc in scs.values() if not sc.empty]
    metrics, k_notes = effective_metrics(spec, max(n_mins) if n_mins else None, runs.cache.get("ks", []))
    for c, arm in arms.items():
        if arm is None:
            continue
        sc = scs[c]
        long = _long(sc, metrics)
        method = _arm_method(arm, c, meta)
        stages = int(meta.loc[meta["run_id"] == arm.run_ids[0], "curriculum_stages"].iloc[0])
        groups = {key: g for key, g in long.dropna(subset=["value"]).groupby(["bench_key", "metric", "k"], sort=False)}
        n_min = sc.groupby("bench_key")["n_min"].min().to_dict()
        per_cell = []
        base = dict(model=model_label(model), model_key=model, contestant=c, method=method,
                    variant=c if spec.variant_kind else "", curriculum_stages=stages)
        for b in spec.benchmarks:
            for metric, k in metrics:
                g = groups.get((b, metric, k))
                if g is None:
                    why = ("no samples" if b not in n_min else
                           f"k={k} exceeds the {int(n_min[b])} samples per problem")
                    missing.append(f"{contestant_label(spec, c)} {bench_header(bmap.get(b) or b)} "
                                   f"{metric_header(metric, k)}: {why}")
                    continue
                g = g.sort_values("seed")
                seeds, vals = g["seed"].to_numpy(int), g["value"].to_numpy(float)
                values[(c, b, metric, k)] = (seeds, vals)
                per_cell.append(vals)
                est = run_bootstrap(vals, **boot)
                rows.append(dict(base, bench_key=b, benchmark=bench_label(bmap[b]), metric=metric, k=k,
                                 mean=est.mean, lo=est.lo, hi=est.hi, t_lo=est.t_lo, t_hi=est.t_hi,
                                 n_seeds=len(vals),
                                 seeds=" ".join(map(str, seeds)),
                                 eval_steps=" ".join(map(str, sorted(set(g["eval_step"].astype(int)))))))
        if spec.avg and per_cell and len(per_cell) == len(spec.benchmarks) * len(metrics):
            mine = {key[1:]: v for key, v in values.items() if key[0] == c}
            cells_d = distinct_cells([(b, m, k) for b in spec.benchmarks for m, k in metrics])
            seeds_d, mat = seed_matrix(mine, cells_d)
            if seeds_d.size:
                est = run_bootstrap(mat, **boot)
                rows.append(dict(base, bench_key="avg", benchmark="Avg.", metric="avg_all", k=pd.NA,
                                 mean=est.mean, lo=est.lo, hi=est.hi, t_lo=est.t_lo, t_hi=est.t_hi,
                                 n_seeds=est.n_runs, seeds=" ".join(map(str, seeds_d)), eval_steps=""))
            else:
                missing.append(f"{contestant_label(spec, c)} Avg.: no seed has every cell")
        elif spec.avg and per_cell:
            missing.append(f"{contestant_label(spec, c)} Avg.: not every cell has a value")
    cells = pd.DataFrame(rows, columns=[c for c in CELL_COLS if c not in ("text", "x")])
    cells["k"] = cells["k"].astype("Int64")
    cells["text"] = [f"{m:.2f}" for m in cells["mean"]]
    cells["x"] = cells["text"].astype(float)
    return cells, values, bmap, missing, dataclasses.replace(spec, metrics=tuple(metrics)), k_notes


def delta_row(spec: TableSpec, cells: pd.DataFrame, text_col: str = "x") -> dict:
    """{model: {(bench_key, metric, k): "+1.23"}}: the paper's Delta contestant (SENT) minus the best
    other contestant."""
    key = delta_contestant()
    out: dict = {}
    for (model, b, metric, k), g in cells.groupby(["model", "bench_key", "metric", "k"], dropna=False):
        k = None if pd.isna(k) else int(k)
        mine = g[g["contestant"] == key]
        other = g[(g["contestant"] != key) & g["x"].notna()]
        if mine.empty or other.empty:
            continue
        out.setdefault(model, {})[(b, metric, k)] = fmt_signed(float(mine["x"].iloc[0]) - float(other["x"].max()))
    return out


def comparisons(spec: TableSpec, runs: Runs, model: str, arms: dict, values: dict, bmap: dict) -> pd.DataFrame:
    """Paired (by seed) comparison of every contestant with GRPO of the same model (``spec`` carries
    the K values the table used)."""
    opts = runs.options
    base = baseline_method()
    grpo = method_arm(runs.usable_meta(), model, base)
    if grpo is None:
        return pd.DataFrame()
    if base in arms and arms[base] is not None:
        gvals = {key[1:]: v for key, v in values.items() if key[0] == base}
    else:  # Tables VI/VII have no GRPO column: score GRPO's runs the same way
        sc = _arm_rows(runs, grpo, opts.eval_step, bmap, [])
        gvals = {}
        for (b, m, k), g in _long(sc, spec.metrics).dropna(subset=["value"]).groupby(["bench_key", "metric", "k"]):
            g = g.sort_values("seed")
            gvals[(b, m, k)] = (g["seed"].to_numpy(int), g["value"].to_numpy(float))
    groups = [(metric_header(m, k), [(b, m, k) for b in spec.benchmarks]) for m, k in spec.metrics]
    every = distinct_cells([(b, m, k) for b in spec.benchmarks for m, k in spec.metrics])
    if len(every) > len(spec.benchmarks):  # more distinct estimands than one metric group has
        heads = ", ".join(dict.fromkeys(metric_header(m, k) for _, m, k in every))
        groups.append((f"Avg. over distinct cells ({heads})", every))
    rows = []
    for c, arm in arms.items():
        if arm is None or c in (base, "base"):
            continue
        mine = {key[1:]: v for key, v in values.items() if key[0] == c}
        for label, cells in groups:
            cells = [cell for cell in cells if cell in mine and cell in gvals]
            if not cells:
                continue
            sx, mx = seed_matrix(mine, cells)
            sy, my = seed_matrix(gvals, cells)
            _, ia, ig = np.intersect1d(sx, sy, return_indices=True)  # pair by seed, jointly over cells
            if not ia.size:
                continue
            cmp = paired_comparison(mx[ia], my[ig], reps=opts.reps, random_state=opts.random_state,
                                    confidence=opts.confidence)
            rows.append(dict(model=model_label(model), contestant=c, method_label=contestant_label(spec, c),
                             metric=label, tasks=cmp.n_tasks, n_pairs=cmp.n_pairs, diff=cmp.diff,
                             diff_lo=cmp.diff_lo, diff_hi=cmp.diff_hi, t_lo=cmp.t_lo, t_hi=cmp.t_hi,
                             p_improve=cmp.p_improve, p_lo=cmp.p_lo, p_hi=cmp.p_hi))
    return pd.DataFrame(rows)
