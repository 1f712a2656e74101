"""``summary.md`` (what was read, what was wrong with it, what was built) and ``index.md`` (every
table and figure with how it was produced, the command and the commits)."""

from __future__ import annotations

import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from analysis.load import Issue, Runs
from analysis.paper import TABLES
from analysis.render import md_simple_table


@dataclass
class Outcome:
    """What happened to one builder."""

    name: str
    kind: str  # table / figure
    status: str  # built / partial / missing / failed
    how: str
    reasons: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # relative to the output dir
    main_md: str = ""  # tables: our grid(s), shown in the index
    caption: str = ""


def git_state(path: Path) -> str:
    """``<sha>`` (+ `` (uncommitted changes)``) of the git tree holding ``path``, or ``unknown``."""
    try:
        sha = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        return sha + (" (uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"


def _run_shas(runs: Runs) -> list[str]:
    m = runs.meta
    if m.empty:
        return []
    out = []
    for (sha, dirty), g in m.groupby([m["git_sha"].fillna("unknown").astype(str),
                                      m["dirty"].map(lambda d: "dirty" if d else "clean")]):
        out.append(f"`{sha}` ({dirty}): {len(g)} run(s)")
    return out


def _issue_lines(issues: list[Issue], level: str, limit: int = 200) -> list[str]:
    sel = [i for i in issues if i.level == level]
    lines = [f"- `{i.run}`: {i.message}" for i in sel[:limit]]
    if len(sel) > limit:
        lines.append(f"- ... and {len(sel) - limit} more")
    return lines


def summary_md(runs: Runs, outcomes: list[Outcome], command: str, build_issues: list[Issue]) -> str:
    m = runs.meta
    n_used = len(runs.usable_meta())
    skipped = [i for i in runs.issues if i.level == "skipped"]
    incomplete = int((~m["done"].astype(bool)).sum()) if not m.empty else 0
    lines = ["# Analysis build summary\n", f"Command: `{command}`\n",
             f"- Run directories found under `{runs.root}`: {runs.candidates}",
             f"- Readable runs: {len(m)}; skipped: {len(skipped)}; without DONE (incomplete): {incomplete} "
             + ("(included: --include-incomplete)" if runs.options.include_incomplete else "(left out of tables and "
                                                                                          "figures)"),
             f"- Runs used: {n_used}",
             f"- Evaluation step for tables: `{runs.options.eval_step}`; bootstrap: {runs.options.reps} resamples, "
             f"random_state={runs.options.random_state}"]
    counts = Counter((o.kind, o.status) for o in outcomes)
    lines.append("- Built: " + ", ".join(f"{n} {k}(s) {s}" for (k, s), n in sorted(counts.items())))
    lines.append("\n## Tables and figures\n")
    rows = [[o.name, o.kind, o.status, "; ".join(o.reasons) or "–"] for o in outcomes]
    lines.append(md_simple_table(["Name", "Kind", "Status", "Why not complete"], rows, right_from=4))
    lines.append("## Problems found in the run logs\n")
    for level, title in (("skipped", "Runs skipped"), ("warning", "Warnings (run used)"),
                         ("info", "Notes (harmless)")):
        sel = _issue_lines(runs.issues, level)
        lines.append(f"### {title}: {sum(1 for i in runs.issues if i.level == level)}\n")
        lines += sel or ["- none"]
        lines.append("")
    if build_issues:
        lines.append("### While building the tables\n")
        seen = set()
        for i in build_issues:
            if (i.run, i.message) not in seen:
                seen.add((i.run, i.message))
                lines.append(f"- `{i.run}`: {i.message}")
        lines.append("")
    if not m.empty:
        lines.append("## Runs\n")
        rows = []
        for r in m.sort_values("run_id").itertuples():
            rows.append([r.run_id, r.model, r.method, r.curriculum, r.curriculum_stages, r.seed,
                         "yes" if r.done else "**no**", str(r.git_sha)[:10]])
        lines.append(md_simple_table(["Run", "Model", "Method", "Curriculum", "Stages", "Seed", "DONE", "git"],
                                     rows, right_from=8))
    return "\n".join(lines) + "\n"


def index_md(runs: Runs, outcomes: list[Outcome], command: str, analysis_git: str, generated: str,
             see_also: list[tuple[str, str]] = ()) -> str:
    lines = ["# SENT paper: tables and figures rebuilt from run logs\n",
             f"- Command: `{command}`",
             f"- Analysis code: `{analysis_git}`",
             "- Harness commits of the runs (meta.json `git_sha`): " + ("; ".join(_run_shas(runs)) or "–"),
             f"- Runs: {len(runs.usable_meta())} used of {runs.candidates} found in `{runs.root}`; details and "
             f"problems in [summary.md](summary.md)",
             f"- Tables use each run's evaluation at eval_step `{runs.options.eval_step}`; every number is a mean over "
             "seeds, with 95% intervals (the run as the unit, resampled jointly across cells; Student-t below 5 "
             "seeds) in the table's .md file; figure bands are the same intervals",
             "- The paper's claims checked one by one against these runs: [claims.md](claims.md) (below)",
             "- The paper's own numbers: [reference/](reference/) (its CSVs) and "
             "[reference/check_report.md](reference/check_report.md) (where its marks, Avg. and Δ do not recompute)",
             *(f"- See also: [{label}]({path})" for label, path in see_also),
             f"- Generated: {generated}\n", "## Tables\n"]
    for o in (o for o in outcomes if o.kind == "table"):
        spec = TABLES.get(o.name)
        head = f"### Table {spec.roman}: {spec.title} — {o.status}" if spec else f"### {o.name} — {o.status}"
        lines.append(head + "\n")
        lines.append(f"How: {o.how}.\n")
        links = " · ".join(f"[{Path(f).name}]({f})" for f in o.files)
        lines.append(f"Files: {links}\n")
        if o.reasons:
            lines.append(("Missing: " if o.status == "missing" else "Not complete: ") + "; ".join(o.reasons) + "\n")
        if o.main_md:
            lines.append(o.main_md)
    for o in (o for o in outcomes if o.kind == "report"):
        lines.append(f"## The paper's claims — {o.status}\n")
        lines.append(f"How: {o.how}.\n")
        lines.append("Files: " + " · ".join(f"[{Path(f).name}]({f})" for f in o.files) + "\n")
        if o.reasons:
            lines.append(("Missing: " if o.status == "missing" else "Not complete: ") + "; ".join(o.reasons) + "\n")
        if o.main_md:
            lines.append(o.main_md)
    lines.append("## Figures\n")
    for o in (o for o in outcomes if o.kind == "figure"):
        lines.append(f"### {o.name} — {o.status}\n")
        lines.append(f"How: {o.how}.\n")
        if o.reasons:
            lines.append(("Missing: " if o.status == "missing" else "Not complete: ") + "; ".join(o.reasons) + "\n")
        png = [f for f in o.files if f.endswith(".png")]
        pdf = [f for f in o.files if f.endswith(".pdf")]
        if png:
            lines.append(f"![{o.name}]({png[0]})\n")
            lines.append(f"{o.caption} ([PDF]({pdf[0]}))\n" if pdf else f"{o.caption}\n")
    return "\n".join(lines) + "\n"
