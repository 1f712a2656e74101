"""The paper's Tables I-IX and XII rebuilt from run logs, beside the paper's own numbers.

For each table (``paper.TABLES``) and each of our models that plays the paper model's role (the
embedded ``tiny`` twin and/or the real model), every cell is the mean over seeds of the per-run
score at the chosen evaluation step (``Options.eval_step``: each run's final one by default), with
95% intervals with the run (seed) as the unit, resampled jointly across cells (``stats``; with fewer
than 5 seeds the t-interval too); marks and layout are the paper's (``render``). The Avg. entry
counts each distinct estimand once: Avg@8/16/32 (and Len@K) are c/n (mean length) of the same
samples for every K, so they are one estimand per benchmark.
Files per table (``tables/``): ``<name>.{md,tex,csv}`` (ours, paper layout and tidy CSV columns),
``<name>_stats.csv`` (mean, interval, seeds per cell), ``<name>_vs_grpo.csv`` (paired comparison
with GRPO) and ``<name>_vs_paper.md`` (the paper's table and ours side by side). A table without
runs gets only ``<name>_vs_paper.md``, which says why ours is missing.

This module lays tables out and writes their files, and renders the paper's own numbers
(``paper_cells``, ``paper_grid_md``); the cell values come from ``cells``. May import: pandas and
the analysis modules ``cells``, ``load``, ``paper``, ``registry``, ``render``, ``select``, ``stats``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.cells import comparisons, delta_row, our_cells, resolve_arms
from analysis.load import Issue, Runs
from analysis.paper import (BENCH_LABEL, BENCHMARKS, LABEL_BENCH, TABLES, TableSpec, bench_header, load_paper_deltas,
                            load_reference, metric_header, model_label, model_title)
from analysis.registry import register
from analysis.render import (MARK_RULE, build_grid, contestant_label, fmt_ci, fmt_signed, grid_to_latex,
                             grid_to_markdown, mark_best, mark_group_cols, md_simple_table)
from analysis.select import Arm
from analysis.stats import CONVENTION, MIN_SEEDS_BOOTSTRAP


@dataclass
class TableResult:
    name: str
    spec: TableSpec
    status: str  # "built", "partial" or "missing"
    reasons: list[str]
    files: dict[str, str]
    models: list[str] = field(default_factory=list)
    seeds: dict[str, dict[str, int]] = field(default_factory=dict)  # model -> contestant -> n seeds
    issues: list[Issue] = field(default_factory=list)
    main_md: str = ""  # our table(s) in the paper layout, for the index


# ---------------------------------------------------------------------------------------------------
# the paper's cells
# ---------------------------------------------------------------------------------------------------

def paper_cells(spec: TableSpec) -> pd.DataFrame:
    """The paper's numbers for ``spec`` as a cell frame, with its printed marks."""
    ref = load_reference(spec.name)
    return pd.DataFrame({
        "model": ref["model"], "bench_key": ref["bench_key"], "benchmark": ref["benchmark"],
        "metric": ref["metric"], "k": ref["k"],
        "contestant": ref["variant"] if spec.variant_kind else ref["method"],
        "text": ref["value"], "x": ref["x"], "bold": ref["bold"], "underline": ref["underline"],
    })


def paper_delta(spec: TableSpec) -> dict:
    d = load_paper_deltas()
    d = d[d["table"] == spec.name]
    out: dict = {}
    for r in d.itertuples():
        k = None if pd.isna(r.k) else int(r.k)
        out.setdefault(r.model, {})[(LABEL_BENCH.get(r.benchmark, "avg"), r.metric, k)] = r.value
    return out


def paper_grid_md(spec: TableSpec) -> str:
    cells = paper_cells(spec)
    models = list(dict.fromkeys(cells["model"]))
    contestants = list(dict.fromkeys(cells["contestant"]))
    heads = {m: dict(BENCH_LABEL) for m in models}
    if spec.rank_across_models:  # Table XII: one block, its columns are different models
        sections = [(None, models[-1])]
    else:
        sections = [(m, m) for m in models]
    g = build_grid(spec, cells, contestants, sections, heads, paper_delta(spec))
    return grid_to_markdown(g)


# ---------------------------------------------------------------------------------------------------
# writing one table
# ---------------------------------------------------------------------------------------------------

def _tidy_csv(spec: TableSpec, cells: pd.DataFrame) -> str:
    out = pd.DataFrame({
        "model": cells["model"], "benchmark": cells["benchmark"], "metric": cells["metric"],
        "k": cells["k"].map(lambda k: "" if pd.isna(k) else str(int(k))),
        "method": cells["method"], "value": cells["text"],
        "bold": cells["bold"].astype(int), "underline": cells["underline"].astype(int)})
    if spec.variant_kind:
        out["variant"] = cells["variant"]
    if spec.variant_kind == "stages":
        out["curriculum_stages"] = cells["curriculum_stages"].astype(int)
    return out.to_csv(index=False, lineterminator="\n")


def _stats_csv(cells: pd.DataFrame) -> str:
    cols = ["model", "benchmark", "metric", "k", "method", "variant", "curriculum_stages", "mean", "lo", "hi",
            "t_lo", "t_hi", "n_seeds", "seeds", "eval_steps"]
    out = cells[cols].rename(columns={"lo": "ci95_low", "hi": "ci95_high", "t_lo": "t95_low",
                                      "t_hi": "t95_high"})
    return out.to_csv(index=False, lineterminator="\n", float_format="%.4f")


def _seeds_line(spec: TableSpec, arms: dict[str, Arm | None]) -> str:
    parts = []
    for c, arm in arms.items():
        if arm is None:
            parts.append(f"{contestant_label(spec, c)}: no runs")
        else:
            parts.append(f"{contestant_label(spec, c)}: {len(arm.seeds)} (seeds {', '.join(map(str, arm.seeds))})")
    return "; ".join(parts)


def _comparison_md(cmp: pd.DataFrame) -> str:
    if cmp.empty:
        return "_No GRPO runs (or no seeds shared with GRPO) for this model: no paired comparison._\n"
    rows = []
    few = bool((cmp["n_pairs"] < MIN_SEEDS_BOOTSTRAP).any())
    for r in cmp.itertuples():
        row = [r.method_label, r.metric, f"{r.n_pairs} x {r.tasks}", fmt_ci(r.diff, r.diff_lo, r.diff_hi)]
        if few:
            row.append(fmt_ci(r.diff, r.t_lo, r.t_hi))
        rows.append(row + [fmt_ci(r.p_improve, r.p_lo, r.p_hi)])
    heads = ["Method", "Metric", "seed pairs x cells", "Δ vs GRPO, mean [95% seed bootstrap]"]
    if few:
        heads.append("Δ vs GRPO, mean [95% t-interval]")
    return md_simple_table(heads + ["P(improvement) [95% seed bootstrap]"], rows, right_from=2)


@dataclass
class _Part:
    """Our table for one model."""

    arms: dict
    cells: pd.DataFrame
    values: dict
    bmap: dict
    missing: list[str]
    spec: TableSpec  # with the K values used for this model
    k_notes: list[str]


def build_table(spec: TableSpec, runs: Runs) -> TableResult:
    notes: list[Issue] = []
    meta = runs.usable_meta()
    files: dict[str, str] = {}
    reasons: list[str] = []
    paper_md = paper_grid_md(spec)
    title = f"Table {spec.roman}: {spec.title}"
    present = set() if meta.empty else set(meta["model"])
    models = [m for m in spec.models if m in present or any(am in present for _, am in spec.arm_models)]
    if spec.unavailable:
        reasons.append(spec.unavailable)
        models = []
    parts: dict[str, _Part] = {}
    for model in models:
        arms = resolve_arms(spec, meta, model, notes)
        if all(a is None for a in arms.values()):
            continue
        part = _Part(arms, *our_cells(spec, runs, model, arms, notes))
        runs.cache[("table_cells", spec.name, model)] = (arms, part.values, part.spec)  # reused by claims
        if part.cells.empty:
            reasons.append(f"{model}: runs exist but none has scorable samples ({'; '.join(part.missing[:3])})")
            continue
        parts[model] = part
    if not parts:
        if not spec.unavailable:
            need = ", ".join(contestant_label(spec, c) for c in spec.arms)
            other = [m for _, m in spec.arm_models]
            which = f"model(s) {', '.join(spec.models)}" + (f" (and {', '.join(other)})" if other else "")
            files_needed = ("" if set(spec.benchmarks) == set(BENCHMARKS) else
                            " with " + ", ".join(f"samples/{b}.jsonl" for b in spec.benchmarks))
            reasons.append(f"no finished runs of {which} for: {need}{files_needed}")
        files[f"{spec.name}_vs_paper.md"] = _vs_paper_md(spec, title, paper_md, None, reasons)
        return TableResult(spec.name, spec, "missing", reasons, files, issues=notes)

    for section in spec.model_sections:
        if len(spec.model_sections) > 1 and not any(m in parts for m in section):
            reasons.append(f"no runs of {' or '.join(section)} (the paper's {model_label(section[-1])} section)")
    all_cells = pd.concat([p.cells for p in parts.values()], ignore_index=True)
    all_cells = mark_best(all_cells, mark_group_cols(spec), "x", spec.underline)
    delta = delta_row(spec, all_cells) if spec.delta else None
    md = [f"# {title} (ours)\n"]
    tex = [f"% {title} (ours), generated by python -m analysis; do not edit\n"
           "% needs \\usepackage{booktabs,graphicx}\n"]
    cmp_frames, seeds_info, main_md = [], {}, []
    for model, part in parts.items():
        cells = all_cells[all_cells["model_key"] == model]
        mspec, arms = part.spec, part.arms
        contestants = list(arms)
        heads = {model_label(model): {b: bench_header(ob) if ob else BENCH_LABEL[b] for b, ob in part.bmap.items()}}
        sec = [(model_title(model), model_label(model))]
        grid = build_grid(mspec, cells, contestants, sec, heads, delta)
        no_runs = [contestant_label(spec, c) for c, a in arms.items() if a is None]
        if no_runs:
            reasons.append(f"{model}: no runs for {' | '.join(no_runs)}")
        if part.k_notes:
            reasons.append(f"{model}: " + "; ".join(part.k_notes))
        if part.missing:
            reasons.append(f"{model}: {len(part.missing)} cell(s) without a value")
        md.append(f"## {model_title(model)}\n")
        md.append(grid_to_markdown(grid))
        main_md.append(f"*{model_title(model)}*\n\n" + grid_to_markdown(grid))
        md.append(f"\nSeeds per column: {_seeds_line(spec, arms)}.")
        if "base" in arms:
            md.append("Base model: the GRPO runs evaluated at eval_step 0 (before training).")
        steps = sorted(set(" ".join(cells["eval_steps"]).split()), key=int)
        md.append(f"Evaluation step: `{runs.options.eval_step}` (eval_step used: {', '.join(steps) or '–'}).")
        for n in part.k_notes:
            md.append(f"K: {n}.")
        md.append(MARK_RULE)
        if spec.delta:
            md.append("Δ: SENT minus the best other method of the column, from the displayed values.")
        if spec.avg:
            md.append("Avg.: mean over benchmarks of each distinct estimand (Avg@K and Len@K are the same "
                      "number for every K, so they count once per benchmark); seeds without every cell are "
                      "left out of it.")
        if part.missing:
            md.append("\nCells without a value:\n" + "\n".join(f"- {m}" for m in part.missing))
        arm_notes = [n for a in arms.values() if a is not None for n in a.notes]
        if arm_notes:
            md.append("\nRun selection:\n" + "\n".join(f"- {n}" for n in arm_notes))
        ci_cells = cells.assign(text=[fmt_ci(m, lo, hi) for m, lo, hi in zip(cells["mean"], cells["lo"], cells["hi"])],
                                bold=False, underline=False)
        md.append(f"\n### Mean over seeds with 95% seed-bootstrap interval ({runs.options.reps} resamples, "
                  f"random_state={runs.options.random_state})\n")
        md.append(grid_to_markdown(build_grid(mspec, ci_cells, contestants, sec, heads, None)))
        few = [contestant_label(spec, c) for c, a in arms.items() if a is not None and len(a.seeds) < MIN_SEEDS_BOOTSTRAP]
        if few:
            t_cells = cells.assign(text=[fmt_ci(m, lo, hi) for m, lo, hi in zip(cells["mean"], cells["t_lo"],
                                                                                  cells["t_hi"])],
                                   bold=False, underline=False)
            md.append(f"\n### Mean over seeds with 95% t-interval (fewer than {MIN_SEEDS_BOOTSTRAP} seeds: "
                      f"{', '.join(few)}; the bootstrap above is crude at that size)\n")
            md.append(grid_to_markdown(build_grid(mspec, t_cells, contestants, sec, heads, None)))
        md.append(f"\n_{CONVENTION}_")
        cmp = comparisons(mspec, runs, model, arms, part.values, part.bmap)
        md.append("\n### Paired comparison with GRPO (runs paired by seed, resampled jointly over the cells)\n")
        md.append(_comparison_md(cmp))
        md.append(f"\n_{CONVENTION}_")
        cmp_frames.append(cmp)
        tex.append(grid_to_latex(grid, f"{title}. {model_title(model)}. Mean over seeds "
                                 f"({_seeds_line(spec, arms)}); 95% intervals in {spec.name}.md.",
                                 f"tab:{spec.name}:{model}"))
        seeds_info[model] = {c: (len(a.seeds) if a else 0) for c, a in arms.items()}
    status = "partial" if reasons else "built"
    files[f"{spec.name}.md"] = "\n".join(md) + "\n"
    files[f"{spec.name}.tex"] = "\n".join(tex)
    files[f"{spec.name}.csv"] = _tidy_csv(spec, all_cells)
    files[f"{spec.name}_stats.csv"] = _stats_csv(all_cells)
    cmp_all = pd.concat(cmp_frames, ignore_index=True) if any(not c.empty for c in cmp_frames) else pd.DataFrame()
    files[f"{spec.name}_vs_grpo.csv"] = (cmp_all.to_csv(index=False, lineterminator="\n", float_format="%.4f")
                                         if not cmp_all.empty else "model,contestant,metric\n")
    files[f"{spec.name}_vs_paper.md"] = _vs_paper_md(spec, title, paper_md, (all_cells, parts), reasons)
    return TableResult(spec.name, spec, status, reasons, files, models=list(parts), seeds=seeds_info,
                       issues=notes, main_md="\n".join(main_md))


def _vs_paper_md(spec: TableSpec, title: str, paper_md: str, ours, reasons: list[str]) -> str:
    out = [f"# {title}: the paper's numbers and ours\n",
           "## Paper (as printed; bold/underline as printed)\n", paper_md,
           f"\nThe paper's numbers: `reference/{spec.name}.csv`. Where its marks, Avg. or Δ entries do not "
           f"recompute, see `reference/check_report.md`.\n"]
    if ours is None:
        out.append("## Ours: missing\n")
        out += [f"- {r}" for r in reasons]
        return "\n".join(out) + "\n"
    cells, parts = ours
    out.append(f"## Ours (full table with intervals and comparisons: `{spec.name}.md`)\n")
    paper = paper_cells(spec)
    for model, part in parts.items():
        c = cells[cells["model_key"] == model]
        heads = {model_label(model): {b: bench_header(ob) if ob else BENCH_LABEL[b] for b, ob in part.bmap.items()}}
        out.append(f"### {model_title(model)}\n")
        out.append(grid_to_markdown(build_grid(part.spec, c, list(part.arms), [(None, model_label(model))], heads,
                                               delta_row(spec, c) if spec.delta else None)))
        if model_label(model) not in set(paper["model"]):
            out.append("\nThis is the embedded twin: a different model and synthetic benchmarks, so its numbers "
                       "cannot be compared with the paper's; only the orderings of the methods can.\n")
            continue
        ref = paper if spec.rank_across_models else paper[paper["model"] == model_label(model)]  # XII: two models
        m = c.merge(ref, on=["bench_key", "metric", "k", "contestant"], suffixes=("", "_paper"), how="outer")
        rows = []
        for r in m.itertuples():
            bench = r.benchmark if isinstance(r.benchmark, str) else r.benchmark_paper
            mk = "Avg." if r.metric == "avg_all" else metric_header(r.metric, r.k)
            ours_t = fmt_ci(r.mean, r.lo, r.hi) if not pd.isna(r.mean) else "–"
            diff = fmt_signed(r.x - r.x_paper) if not (pd.isna(r.x) or pd.isna(r.x_paper)) else "–"
            rows.append([contestant_label(spec, r.contestant), bench, mk,
                         r.text_paper if isinstance(r.text_paper, str) else "–", ours_t, diff])
        out.append("\n#### Cell by cell\n")
        out.append(md_simple_table(["Method", "Benchmark", "Metric", "Paper", "Ours (mean [95% seed bootstrap])",
                                    "Ours − paper"], rows, right_from=3))
    if reasons:
        out.append("\nNotes:\n" + "\n".join(f"- {r}" for r in reasons))
    out.append(f"\n_{CONVENTION}_")
    return "\n".join(out) + "\n"


def _register_all():
    for spec in TABLES.values():
        how = (f"Table {spec.roman} ({spec.title}): " +
               (spec.unavailable + "; the paper's numbers only" if spec.unavailable else
                "mean over seeds of each run's score at the chosen eval step (default: its last), 95% "
                "intervals with the seed as the unit (seed bootstrap, t-interval below 5 seeds), paired "
                "comparison with GRPO, the paper's table beside it"))

        def make(runs: Runs, _spec=spec) -> TableResult:
            return build_table(_spec, runs)

        register(spec.name, "table", how)(make)


_register_all()


def write_table(result: TableResult, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in result.files.items():
        p = out_dir / name
        p.write_text(text, encoding="utf-8")
        written.append(p)
    return written
