"""Best/second-best marks and the paper-layout grids, written as Markdown, LaTeX and CSV.

One tidy frame shape feeds every renderer, for the paper's numbers and ours alike (a "cell frame"):

    model, bench_key, benchmark, metric, k, contestant, text, x, bold, underline

``bench_key`` is the paper benchmark (``aime24``...; ``avg`` for an Avg. entry), ``benchmark`` the
label we print (``AIME24`` or an embedded twin ``synth_1``), ``contestant`` the method key (or the
variant key in Tables VI/VII), ``text`` the value as printed, ``x`` the number the marks compare.

Marks (``mark_best``): within one group of contestants (one model, benchmark, metric and K), bold
goes to every value equal to the best and underline to every value equal to the second-best
*distinct* value (dense ranking), so ties share a mark; when all values tie, all are bold and none
underlined. Our values are compared as displayed (two decimals), so values that print the same
tie; the paper's as printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.paper import METHOD_LABEL, TableSpec, metric_header, variant_label

MARK_RULE = ("Bold: best; underline: second best (dense ranking of the values as displayed, two "
             "decimals; higher is better, also for Len@16). Tied values share the mark; when every entry "
             "ties, all are bold and none is underlined. Delta rows are not marked.")


def mark_best(df: pd.DataFrame, by: list[str], value: str = "x", underline: bool = True) -> pd.DataFrame:
    """Return ``df`` with boolean ``bold`` and ``underline`` recomputed (see module docstring)."""
    out = df.copy()
    rank = out.groupby(by, dropna=False, sort=False)[value].rank(method="dense", ascending=False)
    out["bold"] = (rank == 1).to_numpy()
    out["underline"] = ((rank == 2).to_numpy() & underline)
    return out


def mark_group_cols(spec: TableSpec) -> list[str]:
    by = ["bench_key", "metric", "k"]
    return by if spec.rank_across_models else ["model", *by]


def contestant_label(spec: TableSpec, key: str) -> str:
    return variant_label(key) if spec.variant_kind else METHOD_LABEL.get(key, key)


@dataclass
class Cell:
    text: str
    bold: bool = False
    underline: bool = False


@dataclass
class Section:
    """One block of a table: a title row (model) and its body rows."""

    title: str | None
    rows: list[list[Cell]] = field(default_factory=list)


@dataclass
class Grid:
    """A rendered table: header groups (label, span) over the leaf header, then sections."""

    header: list[str]
    groups: list[tuple[str, int]] | None
    sections: list[Section]
    n_label_cols: int


def _lookup(cells: pd.DataFrame) -> dict:
    return {(r.bench_key, r.metric, None if pd.isna(r.k) else int(r.k), r.contestant): r
            for r in cells.itertuples(index=False)}


def _cell(r, missing: str = "–") -> Cell:
    if r is None:
        return Cell(missing)
    return Cell(r.text, bool(r.bold), bool(r.underline))


def build_grid(spec: TableSpec, cells: pd.DataFrame, contestants: list[str], sections: list[tuple[str | None, str]],
               bench_headers: dict[str, dict[str, str]], delta: dict[str, dict] | None = None) -> Grid:
    """Lay out ``cells`` as the paper does for ``spec``.

    ``sections``: (title, model) pairs; ``bench_headers[model][bench_key]`` the printed benchmark
    label; ``delta[model][(bench_key, metric, k)]`` the Delta text (``rows`` orientation only).
    """
    multi_metric = spec.metric_column
    out_sections = []
    if spec.orientation == "columns":
        header = (["Benchmark", "Metric"] if multi_metric else ["Benchmark"]) + \
                 [contestant_label(spec, c) for c in contestants]
        for title, model in sections:
            sub = cells if spec.rank_across_models else cells[cells["model"] == model]
            look = _lookup(sub)
            sec = Section(title)
            heads = bench_headers.get(model, {})
            for b in spec.benchmarks:
                for i, (metric, k) in enumerate(spec.metrics):
                    lab = [heads.get(b, b) if i == 0 else ""] + ([metric_header(metric, k)] if multi_metric else [])
                    sec.rows.append([Cell(t) for t in lab] + [_cell(look.get((b, metric, k, c))) for c in contestants])
            if spec.avg:
                lab = ["Avg."] + ([""] if multi_metric else [])
                sec.rows.append([Cell(t) for t in lab] + [_cell(look.get(("avg", "avg_all", None, c)))
                                                          for c in contestants])
            out_sections.append(sec)
        return Grid(header, None, out_sections, 2 if multi_metric else 1)

    # rows orientation: contestants in rows, (benchmark x metric@K) in columns
    leaf = ["Method"]
    groups: list[tuple[str, int]] = [("", 1)]
    first_model = sections[0][1] if sections else None
    heads0 = bench_headers.get(first_model, {})
    for b in spec.benchmarks:
        groups.append((heads0.get(b, b), len(spec.metrics)))
        leaf += [metric_header(m, k) for m, k in spec.metrics]
    if spec.avg:
        groups.append(("Avg.", 1))
        leaf.append("Avg.")
    for title, model in sections:
        look = _lookup(cells[cells["model"] == model])
        sec = Section(title)
        for c in contestants:
            row = [Cell(contestant_label(spec, c))]
            for b in spec.benchmarks:
                row += [_cell(look.get((b, m, k, c))) for m, k in spec.metrics]
            if spec.avg:
                row.append(_cell(look.get(("avg", "avg_all", None, c))))
            sec.rows.append(row)
        if spec.delta and delta is not None:
            d = delta.get(model, {})
            row = [Cell("Δ (SENT − best other)")]
            for b in spec.benchmarks:
                row += [Cell(d.get((b, m, k), "–")) for m, k in spec.metrics]
            if spec.avg:
                row.append(Cell(d.get(("avg", "avg_all", None), "–")))
            sec.rows.append(row)
        out_sections.append(sec)
    return Grid(leaf, groups if len(spec.metrics) > 1 or spec.avg else None, out_sections, 1)


# ---------------------------------------------------------------------------------------------------
# writers
# ---------------------------------------------------------------------------------------------------

def _md_cell(c: Cell) -> str:
    t = c.text
    if c.bold:
        t = f"**{t}**"
    if c.underline:
        t = f"<u>{t}</u>"
    return t


def grid_to_markdown(g: Grid) -> str:
    header = list(g.header)
    if g.groups:  # Markdown has one header row: prefix leaf labels with their group
        flat, i = [], 0
        for label, span in g.groups:
            for j in range(span):
                leaf = header[i]
                flat.append(f"{label} {leaf}".strip() if label and label != leaf else leaf)
                i += 1
        header = flat
    lines = []
    ncol = len(header)
    for si, sec in enumerate(g.sections):
        if si == 0:
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "|".join([":--"] * g.n_label_cols + ["--:"] * (ncol - g.n_label_cols)) + "|")
        if sec.title and len(g.sections) > 1:
            lines.append("| " + " | ".join([f"*{sec.title}*"] + [""] * (ncol - 1)) + " |")
        for row in sec.rows:
            lines.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
    return "\n".join(lines) + "\n"


_TEX_ESC = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
            "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "Δ": r"$\Delta$", "−": "$-$", "–": "--"}


def tex_escape(s: str) -> str:
    return "".join(_TEX_ESC.get(ch, ch) for ch in s)


def _tex_cell(c: Cell) -> str:
    t = tex_escape(c.text)
    if c.bold:
        t = r"\textbf{" + t + "}"
    if c.underline:
        t = r"\underline{" + t + "}"
    return t


def grid_to_latex(g: Grid, caption: str, label: str) -> str:
    ncol = len(g.header)
    spec = "l" * g.n_label_cols + "r" * (ncol - g.n_label_cols)
    out = [r"\begin{table}[t]", r"\centering", r"\caption{" + tex_escape(caption) + "}",
           r"\label{" + label + "}", r"\resizebox{\linewidth}{!}{%", r"\begin{tabular}{" + spec + "}",
           r"\toprule"]
    if g.groups:
        parts, rules, col = [], [], 1
        for lab, span in g.groups:
            parts.append(r"\multicolumn{%d}{c}{%s}" % (span, tex_escape(lab)) if span > 1 else tex_escape(lab))
            if lab and span > 1:
                rules.append(r"\cmidrule(lr){%d-%d}" % (col, col + span - 1))
            col += span
        out.append(" & ".join(parts) + r" \\")
        if rules:
            out.append(" ".join(rules))
    out.append(" & ".join(tex_escape(h) for h in g.header) + r" \\")
    out.append(r"\midrule")
    for si, sec in enumerate(g.sections):
        if sec.title and len(g.sections) > 1:
            if si:
                out.append(r"\midrule")
            out.append(r"\multicolumn{%d}{l}{\textit{%s}} \\" % (ncol, tex_escape(sec.title)))
        for row in sec.rows:
            out.append(" & ".join(_tex_cell(c) for c in row) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}}", r"\end{table}"]
    return "\n".join(out) + "\n"


def fmt_value(x: float, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{digits}f}"


def fmt_signed(x: float, digits: int = 2) -> str:
    return "–" if x is None or np.isnan(x) else f"{x:+.{digits}f}"


def fmt_ci(mean: float, lo: float, hi: float, digits: int = 2) -> str:
    if np.isnan(mean):
        return "–"
    if np.isnan(lo):
        return f"{mean:.{digits}f} (1 seed)"
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def md_simple_table(header: list[str], rows: list[list[str]], right_from: int = 1) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join([":--"] * right_from + ["--:"] * (len(header) - right_from)) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"
