"""The paper's own numbers run through our table code: which marks, Avg. and Delta entries recompute.

``mark_diffs(spec)`` re-marks the paper's printed values with ``render.mark_best`` (the same rule
as our tables) and lists every cell whose bold/underline differs from the paper's markup.
``avg_diffs`` recomputes each printed Avg. entry from the row's printed cells, ``delta_diffs`` each
printed Delta (SENT minus the best other method), ``cross_table`` the SENT default run that the
paper prints in several tables (the cells listed in ``reference/default_run.yaml``), and
``grid_diffs`` the printed values that the benchmark's size cannot produce (Avg@K of N problems with
K samples is a multiple of 100/(N K) percent; Pass@K from K samples, a multiple of 100/N).
``check_report()`` writes all of it as Markdown.

Tolerance: printed values carry two decimals, so a mean or difference of printed values may be off
by up to 0.005 per input plus 0.005 of output rounding; entries are reported when they differ by
more than ``TOL`` = 0.01.

May import: pandas and the analysis modules ``paper``, ``render`` and ``tables``; no run data.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.paper import (AVG_OF, BENCH_SIZE, LABEL_BENCH, TABLES, TableSpec, default_run_cells, delta_contestant,
                            load_paper_deltas, metric_header)
from analysis.render import contestant_label, mark_best, mark_group_cols, md_simple_table
from analysis.tables import paper_cells

TOL = 0.01


@dataclass(frozen=True)
class MarkDiff:
    table: str
    model: str
    benchmark: str
    metric: str  # "Pass@16", "Avg."
    contestant: str
    value: str
    mark: str  # "bold" or "underline"
    paper: bool
    ours: bool

    def describe(self) -> str:
        return (f"{self.benchmark} {self.metric} {self.contestant} = {self.value}: {self.mark} "
                f"{'printed' if self.paper else 'missing'} in the paper, "
                f"{'expected' if self.ours else 'not expected'} by the rule")


def _metric_name(metric: str, k) -> str:
    return "Avg." if metric == "avg_all" else metric_header(metric, k)


def mark_diffs(spec: TableSpec) -> list[MarkDiff]:
    cells = paper_cells(spec)
    ours = mark_best(cells, mark_group_cols(spec), "x", spec.underline)
    out = []
    for p, o in zip(cells.itertuples(), ours.itertuples()):
        for mark in ("bold", "underline"):
            pv, ov = bool(getattr(p, mark)), bool(getattr(o, mark))
            if pv != ov:
                out.append(MarkDiff(spec.name, p.model, p.benchmark, _metric_name(p.metric, p.k),
                                    p.contestant, p.text, mark, pv, ov))
    return out


def avg_diffs(spec: TableSpec) -> list[dict]:
    """Printed Avg. entries vs the mean of the printed cells they average."""
    if not spec.avg:
        return []
    cells = paper_cells(spec)
    out = []
    for (model, c), g in cells.groupby(["model", "contestant"], sort=False):
        avg = g[g["metric"] == "avg_all"]
        if avg.empty:
            continue
        rest = g[g["metric"] != "avg_all"]
        recomputed = float(rest["x"].mean())
        printed = float(avg["x"].iloc[0])
        out.append(dict(table=spec.name, model=model, contestant=c, printed=avg["text"].iloc[0],
                        recomputed=recomputed, n=len(rest), diff=printed - recomputed,
                        ok=abs(printed - recomputed) <= TOL))
    return out


def delta_diffs(spec: TableSpec) -> list[dict]:
    """Printed Delta entries vs SENT minus the best other printed value of the column."""
    if not spec.delta:
        return []
    d = load_paper_deltas()
    d = d[d["table"] == spec.name]
    cols: dict = {}
    for c in paper_cells(spec).itertuples():
        k = None if pd.isna(c.k) else int(c.k)
        cols.setdefault((c.model, c.benchmark, c.metric, k), {})[c.contestant] = c.x
    out = []
    for r in d.itertuples():
        col = dict(cols[(r.model, r.benchmark, r.metric, None if pd.isna(r.k) else int(r.k))])
        mine = col.pop(delta_contestant())
        recomputed = float(mine - max(col.values()))
        out.append(dict(table=spec.name, model=r.model, benchmark=r.benchmark, metric=_metric_name(r.metric, r.k),
                        printed=r.value, recomputed=recomputed, diff=r.x - recomputed,
                        ok=abs(r.x - recomputed) <= TOL))
    return out


def cross_table() -> list[dict]:
    """Cells of the SENT-1.5B default run printed in more than one table, with the values printed."""
    seen: dict = {}
    for name, key in default_run_cells():
        cells = paper_cells(TABLES[name])
        cells = cells[(cells["contestant"] == key) & (cells["metric"] != "avg_all")]
        for r in cells.itertuples():
            seen.setdefault((r.benchmark, r.metric, int(r.k)), []).append((name, r.text, r.x))
    out = []
    for (b, m, k), vals in seen.items():
        if len(vals) < 2:
            continue
        distinct = sorted({v[2] for v in vals})
        out.append(dict(benchmark=b, metric=metric_header(m, k), values=vals, ok=len(distinct) == 1))
    return out


def grid_diffs(spec: TableSpec) -> list[dict]:
    """Printed Avg@K / Pass@K cells that no count of correct samples can produce: with N problems and
    K samples each, Avg@K = 100 c / (N K) and Pass@K (at least one of K samples correct) = 100 m / N for
    integers c, m. A printed value with d decimals is flagged when no such value rounds to it (it is
    further than half a unit of its last decimal from every attainable value)."""
    out = []
    for c in paper_cells(spec).itertuples():
        n = BENCH_SIZE.get(LABEL_BENCH.get(c.benchmark, ""))
        if n is None or c.metric not in ("avg", "pass") or pd.isna(c.k):
            continue
        k = int(c.k)
        step = 100.0 / (n * k) if c.metric == "avg" else 100.0 / n
        decimals = len(c.text.split(".")[1]) if "." in c.text else 0
        tol = 0.5 * 10.0 ** -decimals + 1e-9
        below = float(int(c.x / step)) * step
        nearest = min((below, below + step), key=lambda v: abs(v - c.x))
        if abs(nearest - c.x) > tol:
            out.append(dict(table=spec.name, roman=spec.roman, model=c.model, benchmark=c.benchmark,
                            metric=_metric_name(c.metric, k), contestant=c.contestant, printed=c.text, n=n, k=k,
                            step=step, neighbours=(below, below + step)))
    return out


def check_report() -> str:
    """The Markdown report written to ``reference/check_report.md``."""
    lines = ["# The paper's tables through our table code\n",
             "Generated by `python -m analysis` from `reference/*.csv` (the paper's printed numbers and marks) "
             "and `reference/paper_deltas.csv` (its printed Δ rows). Marks are recomputed with the rule our own "
             "tables use: bold on every value equal to the best of its column group, underline on every value "
             "equal to the second-best distinct value (only in tables whose caption promises underlines: I, II, "
             "III, VII, IX), all bold and none underlined when every value ties. Values compare as printed "
             f"(so the printed 43.3 is below 43.33). Avg. and Δ entries are flagged when off by more than {TOL}.\n"]
    total = 0
    lines.append("## 1. Bold and underline marks\n")
    for spec in TABLES.values():
        diffs = mark_diffs(spec)
        total += len(diffs)
        cells = paper_cells(spec)
        lines.append(f"- **Table {spec.roman}** (`{spec.name}`): {int(cells['bold'].sum())} bold and "
                     f"{int(cells['underline'].sum())} underlined cells printed; "
                     + ("all reproduced." if not diffs else f"{len(diffs)} cell mark(s) differ:"))
        for d in diffs:
            model = "" if d.model.startswith("DeepSeek") or spec.rank_across_models else f" ({d.model})"
            lines.append(f"  - {d.benchmark} {d.metric}{model}, {contestant_label(spec, d.contestant)} = {d.value}: "
                         f"{d.mark} is {'printed' if d.paper else 'not printed'}, the rule "
                         f"{'gives it' if d.ours else 'does not'}")
    lines.append(f"\n{total} mark difference(s) in all.\n")
    lines.append("## 2. Avg. entries recomputed from the printed cells\n")
    rows = []
    for spec in TABLES.values():
        for a in avg_diffs(spec):
            rows.append([f"{spec.roman}", a["model"], contestant_label(spec, a["contestant"]), a["printed"],
                         f"{a['recomputed']:.3f}", f"{a['n']} ({AVG_OF[spec.name]})", f"{a['diff']:+.3f}",
                         "ok" if a["ok"] else "**does not recompute**"])
    lines.append(md_simple_table(["Table", "Model", "Method", "Printed", "Recomputed", "Mean of", "Diff", ""],
                                 rows, right_from=3))
    lines.append("## 3. Δ rows recomputed (SENT minus the best other method of the column)\n")
    rows = []
    for spec in TABLES.values():
        for d in delta_diffs(spec):
            rows.append([spec.roman, d["model"], d["benchmark"], d["metric"], d["printed"], f"{d['recomputed']:+.2f}",
                         "ok" if d["ok"] else "**does not recompute**"])
    bad = [r for r in rows if r[-1] != "ok"]
    lines.append(f"{len(rows)} printed Δ entries checked, {len(bad)} do not recompute.\n")
    lines.append(md_simple_table(["Table", "Model", "Benchmark", "Metric", "Printed", "Recomputed", ""],
                                 bad or [["–"] * 7], right_from=4))
    lines.append("## 4. The SENT-1.5B default run across tables\n")
    lines.append("The same run is printed in Tables I/II (w/ SENT), VI (Two-Stage), VII (en 80%, cov 0.0002), "
                 "IX (w/ SENT) and XII.\n")
    cross = cross_table()
    bad = [c for c in cross if not c["ok"]]
    lines.append(f"{len(cross)} cells printed in more than one table, {len(bad)} with different values:\n")
    for c in bad:
        vals = ", ".join(f"{TABLES[n].roman} {t}" for n, t, _ in c["values"])
        lines.append(f"- {c['benchmark']} {c['metric']}: {vals}")
    lines.append("\n## 5. Values the benchmark's size cannot produce\n")
    lines.append("Avg@K is the accuracy over K samples of each of N problems, so it is a multiple of 100/(N K) "
                 "percent; Pass@K (at least one of K samples correct) is a multiple of 100/N. With N = "
                 + ", ".join(f"{n} ({b})" for b, n in BENCH_SIZE.items())
                 + " (LiveCodeBench left out: its size depends on the release window), a printed value is flagged "
                 "when no attainable value rounds to it at the printed number of decimals.\n")
    rows = []
    for spec in TABLES.values():
        for g in grid_diffs(spec):
            model = "" if g["model"].startswith("DeepSeek") or spec.rank_across_models else f" ({g['model']})"
            lo, hi = g["neighbours"]
            rows.append([f"{g['roman']}{model}", g["benchmark"], g["metric"], contestant_label(spec, g["contestant"]),
                         g["printed"], f"{g['n']} x {g['k']}", f"{g['step']:.4f}", f"{lo:.3f} or {hi:.3f}"])
    n_checked = sum(1 for spec in TABLES.values() for c in paper_cells(spec).itertuples()
                    if c.metric in ("avg", "pass") and LABEL_BENCH.get(c.benchmark) in BENCH_SIZE)
    lines.append(f"{n_checked} printed Avg@K and Pass@K values checked; {len(rows)} cannot be produced (all other "
                 f"Pass@K values lie on the 100/N grid, as they would with exactly K samples per problem):\n")
    lines.append(md_simple_table(["Table", "Benchmark", "Metric", "Method", "Printed", "Problems x samples",
                                  "Grid step (%)", "Nearest attainable"], rows or [["–"] * 8], right_from=4))
    return "\n".join(lines) + "\n"
