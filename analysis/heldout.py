"""The ``embedded_heldout`` table: benchmarks of our runs that are not in the paper, per method.

``preset=discriminating`` also evaluates ``synth_7`` and ``synth_8``, held-out levels harder than any
training problem, where the methods are expected to separate; they have no twin among the paper's
benchmarks (``paper.has_twin``), so the paper's tables leave them out. Generically, every benchmark
key of the runs without a twin comes here. Per model (one section each): rows are the methods in
catalog order, each method's runs chosen as in the tables (``select.method_arm``) among the runs that
have such samples; columns are, per benchmark, Pass@k at the largest admissible k (the fewest samples
per problem of any of those runs) and at k = 1, then Avg. (each seed's mean over those cells) and the
final token entropy (each seed's mean ``train/entropy`` over the last ``claim_eval.ENTROPY_WINDOW`` of
its steps, as the entropy claims). A cell is the mean over seeds at the tables' evaluation step with
its 95% interval (``stats``' primary one: Student-t below 5 seeds, seed bootstrap otherwise; the run
is the unit) and its number of seeds; a second block is each method's paired-by-seed difference with
the baseline method (GRPO). There are no paper numbers to put beside it. Without such benchmarks the
builder raises ``NotApplicable``: no files and no entry in the index (with them but none at the
evaluation step, ``MissingInputs``: reported missing like a paper table).

Files (``tables/``): ``embedded_heldout.{md,tex,csv}`` (the CSV: one row per cell with both intervals)
and ``embedded_heldout_vs_grpo.csv``. May import: numpy, pandas and the analysis modules ``cells``,
``claim_eval`` (the entropy window), ``load``, ``paper``, ``registry``, ``render``, ``scores``,
``select``, ``stats`` and ``tables`` (``TableResult``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.cells import seed_matrix
from analysis.claim_eval import ENTROPY_WINDOW
from analysis.load import Issue, Runs
from analysis.paper import TableSpec, baseline_method, has_twin, method_catalog, method_label, model_label
from analysis.registry import MissingInputs, NotApplicable, register
from analysis.render import Cell, Grid, Section, fmt_ci, grid_to_latex, grid_to_markdown
from analysis.scores import eval_step_rows, step_scores, value
from analysis.select import Arm, method_arm
from analysis.stats import CONVENTION, paired_comparison, run_bootstrap
from analysis.tables import TableResult

NAME = "embedded_heldout"
TITLE = "Held-out benchmarks not in the paper"
SPEC = TableSpec(NAME, "", TITLE, (), "rows", (), ())  # TableResult's spec: no paper table behind it
ENTROPY = ("entropy",)  # the cell key of the final token entropy
HOW = ("benchmarks without a paper twin (preset=discriminating's synth_7, synth_8): per method Pass@k at the "
       "largest admissible k and at k=1, Avg., final token entropy; mean over seeds with 95% intervals (run as "
       "the unit; t below 5 seeds), paired difference with GRPO; not in the paper, no paper numbers")


def extra_benchmarks(runs: Runs, run_ids) -> list[str]:
    """The benchmark keys ``run_ids`` have samples of that have no twin in the paper."""
    s = step_scores(runs)
    return sorted(b for b in set(s.loc[s["run_id"].isin(run_ids), "benchmark"]) if not has_twin(b))


def _columns(benches: list[str], ks: dict[str, int], entropy: bool) -> list[tuple[str, str, list[tuple]]]:
    """(group, leaf, cells) per column; a cell is (benchmark, "pass", k) or ``ENTROPY``."""
    cols, every = [], []
    for b in benches:
        for k in dict.fromkeys((ks[b], 1)):  # k=1 once when the largest admissible k is 1
            cols.append((b, f"Pass@{k}", [(b, "pass", k)]))
            every.append((b, "pass", k))
    cols.append(("Avg.", "Avg.", every))
    if entropy:
        cols.append(("Final entropy", "Final entropy", [ENTROPY]))
    return cols


def _final_entropy(runs: Runs, arm: Arm) -> tuple[np.ndarray, np.ndarray] | None:
    """(seeds, each seed's mean train/entropy over the last ENTROPY_WINDOW of its steps)."""
    t = runs.train
    if "train/entropy" not in t.columns:
        return None
    t = t[t["run_id"].isin(arm.run_ids)][["run_id", "step", "train/entropy"]].dropna()
    seed_of = dict(zip(arm.run_ids, arm.seeds))
    out = {}
    for rid, g in t.groupby("run_id"):
        x = g.sort_values("step")["train/entropy"].to_numpy(float)
        out[seed_of[rid]] = float(x[-max(1, int(round(ENTROPY_WINDOW * x.size))):].mean())
    if not out:
        return None
    seeds = np.array(sorted(out), dtype=int)
    return seeds, np.array([out[s] for s in seeds])


def _cell_values(runs: Runs, arm: Arm, rows: pd.DataFrame, ks: dict[str, int]) -> dict:
    """{cell: (seeds, values)} of one method (``rows``: its score rows at the evaluation step)."""
    out = {}
    seed_of = dict(zip(arm.run_ids, arm.seeds))
    for b, k in ks.items():
        sc = rows[rows["benchmark"] == b]
        for kk in dict.fromkeys((k, 1)):
            v = pd.DataFrame({"seed": sc["run_id"].map(seed_of), "v": value(sc, "pass", kk)}).dropna()
            if not v.empty:
                v = v.sort_values("seed")
                out[(b, "pass", kk)] = (v["seed"].to_numpy(int), v["v"].to_numpy(float))
    ent = _final_entropy(runs, arm)
    if ent is not None:
        out[ENTROPY] = ent
    return out


def _matrix(values: dict, cells: list[tuple]):
    if not all(c in values for c in cells):
        return np.empty(0, int), np.empty((0, 0))
    return seed_matrix(values, cells)


def _fmt(mean, lo, hi, n, digits, signed=False) -> str:
    if signed and not np.isnan(mean):
        text = f"{mean:+.{digits}f}" + ("" if np.isnan(lo) else f" [{lo:+.{digits}f}, {hi:+.{digits}f}]")
    else:
        text = fmt_ci(mean, lo, hi, digits)
    return text if np.isnan(lo) else f"{text} (n={n})"


def _grid(cols, rows: list[list[Cell]]) -> Grid:
    header, groups = ["Method"], [("", 1)]
    for group, leaf, _ in cols:
        header.append(leaf)
        if groups[-1][0] == group:
            groups[-1] = (group, groups[-1][1] + 1)
        else:
            groups.append((group, 1))
    return Grid(header, groups, [Section(None, rows)], 1)


def _model_part(runs: Runs, model: str, meta: pd.DataFrame, notes: list[Issue]):
    """One model's section: dict of ``md``, ``main`` (the means, for the index), ``tex``, ``cells`` and
    ``cmp`` (CSV rows), ``reasons``, ``benches``; None without a method run at the evaluation step."""
    opts = runs.options
    boot = dict(reps=opts.reps, random_state=opts.random_state, confidence=opts.confidence)
    arms = {m: a for m in method_catalog() if (a := method_arm(meta, model, m, notes)) is not None}
    if not arms:
        return None
    benches = extra_benchmarks(runs, meta["run_id"])
    rows = {m: eval_step_rows(runs, a.run_ids, opts.eval_step, notes) for m, a in arms.items()}
    rows = {m: r[r["benchmark"].isin(benches)] for m, r in rows.items()}
    nmin = pd.concat(rows.values()).groupby("benchmark", observed=True)["n_min"].min()
    benches = [b for b in benches if b in nmin.index]
    if not benches:
        return None
    ks = {b: int(nmin[b]) for b in benches}  # every run's n is a scored k (scores.ks_for)
    values = {m: _cell_values(runs, a, rows[m], ks) for m, a in arms.items()}
    cols = _columns(benches, ks, any(ENTROPY in v for v in values.values()))
    base = baseline_method()
    cell_rows, cmp_rows, grid_rows, diff_rows, reasons = [], [], [], [], []
    for m, arm in arms.items():
        grid_row, diff_row = [Cell(method_label(m))], [Cell(method_label(m))]
        for group, leaf, cells in cols:
            digits = 3 if cells == [ENTROPY] else 2
            seeds, mat = _matrix(values[m], cells)
            if not seeds.size:
                grid_row.append(Cell("–"))
                diff_row.append(Cell("–"))
                reasons.append(f"{model}: {method_label(m)} {group} {leaf}: no seed has every cell")
                continue
            est = run_bootstrap(mat, **boot)
            lo, hi, kind = est.primary()
            grid_row.append(Cell(_fmt(est.mean, lo, hi, est.n_runs, digits)))
            metric, k = ("entropy", "") if cells == [ENTROPY] else ("avg_all", "") if group == "Avg." else \
                ("pass", str(cells[0][2]))
            cell_rows.append(dict(model=model_label(model), benchmark=group, metric=metric, k=k, method=m,
                                  mean=est.mean, lo=lo, hi=hi, interval=kind, n_seeds=est.n_runs,
                                  seeds=" ".join(map(str, seeds)), ci95_low=est.lo, ci95_high=est.hi,
                                  t95_low=est.t_lo, t95_high=est.t_hi))
            if m == base or base not in arms:
                diff_row.append(Cell("–"))
                continue
            sy, my = _matrix(values[base], cells)
            _, ia, ib = np.intersect1d(seeds, sy, return_indices=True)
            if not ia.size:
                diff_row.append(Cell("–"))
                continue
            c = paired_comparison(mat[ia], my[ib], **boot)
            dlo, dhi, dkind = c.primary()
            diff_row.append(Cell(_fmt(c.diff, dlo, dhi, c.n_pairs, digits, signed=True)))
            cmp_rows.append(dict(model=model_label(model), method=m, benchmark=group, metric=metric, k=k,
                                 diff=c.diff, lo=dlo, hi=dhi, interval=dkind, n_pairs=c.n_pairs,
                                 diff_boot_lo=c.diff_lo, diff_boot_hi=c.diff_hi, diff_t_lo=c.t_lo,
                                 diff_t_hi=c.t_hi, p_improve=c.p_improve))
        grid_rows.append(grid_row)
        if m != base:
            diff_rows.append(diff_row)
    grid = _grid(cols, grid_rows)
    seeds_line = "; ".join(f"{method_label(m)}: {len(a.seeds)} (seeds {', '.join(map(str, a.seeds))})"
                           for m, a in arms.items())
    md = [f"## {model_label(model)}\n", grid_to_markdown(grid),
          f"\nSeeds per method: {seeds_line}.",
          f"Evaluation step: `{opts.eval_step}`. Largest admissible k (the fewest samples per problem of these "
          f"runs): {', '.join(f'{b} {k}' for b, k in ks.items())}."]
    arm_notes = [n for a in arms.values() for n in a.notes]
    if arm_notes:
        md.append("\nRun selection:\n" + "\n".join(f"- {n}" for n in arm_notes))
    md.append(f"\n### Paired difference with {method_label(base)} (runs paired by seed; mean [95% interval] "
              f"(n seed pairs))\n")
    if base in arms and diff_rows:
        md.append(grid_to_markdown(_grid(cols, diff_rows)))
    else:
        md.append(f"_No {method_label(base)} runs (or no other method) with these benchmarks: no paired "
                  f"difference._\n")
    tex = grid_to_latex(grid, f"{TITLE} ({', '.join(benches)}), {model_label(model)}: mean over seeds "
                              f"[95% interval] (n seeds). Not in the paper.", f"tab:{NAME}:{model}")
    return dict(md="\n".join(md), main=f"*{model_label(model)}*\n\n" + grid_to_markdown(grid), tex=tex,
                cells=cell_rows, cmp=cmp_rows, reasons=reasons, benches=benches)


def caption(benches: list[str]) -> str:
    return (f"{', '.join(benches)}: benchmarks with no twin among the paper's, so **not in the paper** and with "
            f"no paper numbers to compare (preset=discriminating's synth_7 and synth_8 are held-out levels harder "
            f"than any training problem, docs/discriminating.md). Cells: mean over seeds [95% interval: Student-t "
            f"below 5 seeds, seed bootstrap otherwise] (n seeds), Pass@k in percent; Avg.: each seed's mean over "
            f"the row's Pass@k cells; Final entropy: each seed's mean train/entropy over the last "
            f"{ENTROPY_WINDOW:.0%} of its training steps.")


@register(NAME, "table", HOW)
def make(runs: Runs) -> TableResult:
    meta = runs.usable_meta()
    have = [] if meta.empty else extra_benchmarks(runs, meta["run_id"])
    if not have:
        raise NotApplicable("no run has samples of a benchmark outside the paper's (e.g. synth_7, synth_8)")
    s = step_scores(runs)
    ids = set(s.loc[s["benchmark"].isin(have), "run_id"])
    meta = meta[meta["run_id"].isin(ids)]
    notes: list[Issue] = []
    parts = [p for model in sorted(set(meta["model"]))
             if (p := _model_part(runs, model, meta[meta["model"] == model], notes)) is not None]
    if not parts:
        raise MissingInputs(f"runs have samples of {', '.join(have)} but no method run has them at eval_step "
                            f"{runs.options.eval_step!r}")
    cap = caption(sorted({b for p in parts for b in p["benches"]}))
    md = [f"# {TITLE} (ours)\n", cap + "\n"] + [p["md"] for p in parts] + [f"\n_{CONVENTION}_"]
    tex = [f"% {TITLE} (ours), generated by python -m analysis; do not edit\n"
           "% needs \\usepackage{booktabs,graphicx}\n"] + [p["tex"] for p in parts]
    reasons = [r for p in parts for r in p["reasons"]]
    cells = pd.DataFrame([r for p in parts for r in p["cells"]])
    cmp = pd.DataFrame([r for p in parts for r in p["cmp"]])
    files = {f"{NAME}.md": "\n".join(md) + "\n", f"{NAME}.tex": "\n".join(tex),
             f"{NAME}.csv": cells.to_csv(index=False, lineterminator="\n", float_format="%.4f"),
             f"{NAME}_vs_grpo.csv": (cmp.to_csv(index=False, lineterminator="\n", float_format="%.4f")
                                     if not cmp.empty else "model,method,benchmark,metric\n")}
    main = f"*{TITLE}.* {cap}\n\n" + "\n".join(p["main"] for p in parts)
    return TableResult(NAME, SPEC, "partial" if reasons else "built", reasons, files, issues=notes, main_md=main)

