"""``python -m analysis [RUNS_DIR] --out paper_figs/``: rebuild every table and figure from run logs.

Everything is written to a staging folder next to ``--out`` first and moved into place at the end,
so a failed build leaves the previous outputs untouched.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shlex
import shutil
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from analysis.load import Issue, Options, load_runs
from analysis.paper import REFERENCE_DIR
from analysis.report import Outcome, git_state, index_md, summary_md


def _parse(argv):
    p = argparse.ArgumentParser(prog="python -m analysis",
                                description="Rebuild every table and figure of the SENT paper from run logs.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("runs_dir", nargs="?", default="runs/", help="directory holding <sweep>/<run_name>/ run folders")
    p.add_argument("--out", default="paper_figs/", help="output directory (tables/, figures/, reference/, index.md)")
    p.add_argument("--eval-step", default="final",
                   help="evaluation step the tables use: 'final' (each run's last eval_step) or a step number")
    p.add_argument("--include-incomplete", action="store_true", help="also use runs without DONE")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0, help="bootstrap random_state")
    p.add_argument("--only", default=None, help="comma-separated builder names (e.g. table01_passk_1p5b,fig4); "
                                                 "writes only their files, not the index")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="processes drawing figures while the tables are built (1: all in this process)")
    p.add_argument("--list", action="store_true", help="list the tables and figures and exit")
    p.add_argument("--reference-only", action="store_true",
                   help="write only <out>/reference/ (the paper's numbers and check_report.md); no runs needed")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--see-also", action="append", default=[], metavar="LABEL=PATH",
                   help="a related analysis folder (or page) linked from index.md, PATH relative to --out; repeatable "
                        "(e.g. 'discriminating preset=../paper_figs_discriminating/index.md')")
    a = p.parse_args(argv)
    if a.eval_step != "final":
        try:
            a.eval_step = int(a.eval_step)
        except ValueError:
            p.error(f"--eval-step must be 'final' or an integer step, got {a.eval_step!r}")
    if a.reps < 100:
        p.error(f"--reps must be at least 100 for a 95% interval, got {a.reps}")
    return a


def _registry():
    from analysis import tables  # noqa: F401 - registers the builders (tables first: listing order)
    from analysis import heldout  # noqa: F401 - the held-out benchmarks outside the paper, after its tables
    from analysis import fig_curves, fig_passk, fig_tokens  # noqa: F401 - the figures, by family
    from analysis import claims  # noqa: F401
    from analysis.registry import builders, get

    return builders, get


def _save_figure(res, fig_dir: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    fig_dir.mkdir(parents=True, exist_ok=True)
    paths = [fig_dir / f"{res.name}.png", fig_dir / f"{res.name}.pdf"]
    res.fig.savefig(paths[0], dpi=120)
    res.fig.savefig(paths[1])
    plt.close(res.fig)
    return paths


def _write_reference(stage: Path) -> None:
    from analysis.check import check_report

    ref = stage / "reference"
    ref.mkdir(parents=True, exist_ok=True)
    for f in sorted(REFERENCE_DIR.iterdir()):
        if f.suffix in (".csv", ".md"):
            shutil.copyfile(f, ref / f.name)
    (ref / "check_report.md").write_text(check_report(), encoding="utf-8")


def _move_into(stage: Path, out: Path, full: bool) -> None:
    """Move the staged outputs into ``out``. A full build replaces tables/, figures/, reference/ and
    the two reports wholesale (no stale files); ``--only`` overwrites just its own files."""
    out.mkdir(parents=True, exist_ok=True)
    for entry in sorted(stage.iterdir()):
        target = out / entry.name
        if entry.is_dir() and not full:
            target.mkdir(exist_ok=True)
            for f in entry.iterdir():
                f.replace(target / f.name)
            continue
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        entry.replace(target)


def main(argv=None) -> int:
    args = _parse(argv)
    see_also = []
    for item in args.see_also:
        label, sep, path = item.partition("=")
        if not sep or not label.strip() or not path.strip():
            print(f"error: --see-also {item!r}: give LABEL=PATH (e.g. 'discriminating preset="
                  f"../paper_figs_discriminating/index.md')", file=sys.stderr)
            return 2
        see_also.append((label.strip(), path.strip()))
    if Path(args.out).exists() and not Path(args.out).is_dir():
        print(f"error: --out {args.out} is an existing file; give a directory", file=sys.stderr)
        return 2
    if args.reference_only:
        out = Path(args.out)
        stage = out.parent / f".{out.name or 'out'}.staging"
        shutil.rmtree(stage, ignore_errors=True)
        try:
            _write_reference(stage)
            _move_into(stage, out, full=True)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        print(f"wrote {out / 'reference'}/")
        return 0
    if not args.list and not Path(args.runs_dir).is_dir():  # before the (slow) plotting imports
        print(f"error: runs directory {args.runs_dir!r} does not exist; pass the directory that holds "
              f"<sweep>/<run_name>/ run folders (default: runs/)", file=sys.stderr)
        return 2
    builders, get = _registry()
    if args.list:
        for b in builders():
            print(f"{b.name:34s} {b.kind:6s} {b.how}")
        return 0
    try:
        selected = [get(n.strip()) for n in args.only.split(",")] if args.only else builders()
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    runs = load_runs(args.runs_dir, progress=not args.quiet)
    runs.options = Options(eval_step=args.eval_step, include_incomplete=args.include_incomplete, reps=args.reps,
                           random_state=args.seed)
    if runs.meta.empty:
        why = "; ".join(f"{i.run}: {i.message}" for i in runs.issues if i.level == "skipped")[:2000]
        print(f"error: no usable runs under {args.runs_dir!r} ({runs.candidates} run director"
              f"{'y' if runs.candidates == 1 else 'ies'} found{': ' + why if why else ''}). Point RUNS_DIR at the "
              f"folder that holds <sweep>/<run_name>/ (e.g. runs/) or run a sweep first.", file=sys.stderr)
        return 2
    command = "python -m analysis " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.parent / f".{out.name or 'out'}.staging"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir()
    outcomes: list[Outcome] = []
    build_issues: list[Issue] = []
    try:
        if not args.only:
            _write_reference(stage)
        outcomes = [o for o in _build_all(selected, runs, stage, build_issues, jobs=args.jobs, quiet=args.quiet)
                    if o.status != "absent"]  # NotApplicable: nothing of it in the outputs
        failed = any(o.status == "failed" for o in outcomes)
        if not args.only:
            generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            (stage / "index.md").write_text(index_md(runs, outcomes, command, git_state(Path(__file__).parent),
                                                     generated, see_also=see_also), encoding="utf-8")
        summary = summary_md(runs, outcomes, command, build_issues)
        if not args.only:
            (stage / "summary.md").write_text(summary, encoding="utf-8")
        _move_into(stage, out, full=not args.only)
    finally:
        if stage.exists():
            shutil.rmtree(stage)
    print(_console_summary(summary))
    print(f"\nwrote {out}/ in {time.perf_counter() - t0:.1f} s")
    return 1 if failed else 0


_RUNS = None  # the loaded runs, inherited by forked figure workers (never pickled)


def _figure_job(name: str, stage: str) -> tuple[Outcome, list[Issue]]:
    from analysis.registry import get

    issues: list[Issue] = []
    return _build_one(get(name), _RUNS, Path(stage), issues), issues


def _build_all(selected, runs, stage: Path, build_issues: list[Issue], *, jobs: int, quiet: bool) -> list[Outcome]:
    """Tables here; figures in ``jobs`` forked processes at the same time (matplotlib rendering is
    most of the time and runs one core per process). Outcomes come back in registry order."""
    global _RUNS
    from analysis.scores import step_scores

    step_scores(runs)  # compute once, before forking, so the workers inherit it
    figs = [b for b in selected if b.kind == "figure"]
    rest = [b for b in selected if b.kind != "figure"]
    done: dict[str, Outcome] = {}
    bar = None
    if not quiet:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(selected), desc="building", unit="item", leave=False)
    use_pool = jobs > 1 and len(figs) > 1 and "fork" in multiprocessing.get_all_start_methods()
    pool = futures = None
    if use_pool:
        from concurrent.futures import ProcessPoolExecutor

        _RUNS = runs
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork"))
        futures = {b.name: pool.submit(_figure_job, b.name, str(stage)) for b in figs}
    else:
        rest = rest + figs
    try:
        for b in rest:
            done[b.name] = _build_one(b, runs, stage, build_issues)
            if bar:
                bar.update()
        for b in figs if futures else []:
            try:
                done[b.name], issues = futures[b.name].result()
            except Exception as e:  # noqa: BLE001 - a dead worker fails its figure, not the build
                done[b.name], issues = Outcome(b.name, b.kind, "failed", b.how, [f"{type(e).__name__}: {e}"]), []
            build_issues.extend(issues)
            if bar:
                bar.update()
    finally:
        if pool is not None:
            pool.shutdown()
        _RUNS = None
        if bar:
            bar.close()
    return [done[b.name] for b in selected]


def _build_one(b, runs, stage: Path, build_issues: list[Issue]) -> Outcome:
    from analysis.registry import MissingInputs, NotApplicable
    from analysis.tables import write_table

    o = Outcome(b.name, b.kind, "built", b.how)
    try:
        res = b.make(runs)
    except NotApplicable as e:
        o.status, o.reasons = "absent", [str(e)]
        return o
    except MissingInputs as e:
        o.status, o.reasons = "missing", [str(e)]
        return o
    except Exception as e:  # noqa: BLE001 - one broken builder must not hide the others' results
        o.status = "failed"
        o.reasons = [f"{type(e).__name__}: {e}"]
        build_issues.append(Issue("warning", b.name, "builder failed:\n" + traceback.format_exc()))
        return o
    if b.kind == "table":
        paths = write_table(res, stage / "tables")
        o.status, o.reasons, o.main_md = res.status, res.reasons, res.main_md
        build_issues.extend(res.issues)
    elif b.kind == "report":  # claims.md and its CSVs, at the top of the output folder
        paths = write_table(res, stage)
        o.status, o.reasons, o.main_md = res.status, res.reasons, res.summary_md
    else:
        paths = _save_figure(res, stage / "figures")
        o.status, o.reasons, o.caption = res.status, res.reasons, res.caption
    o.files = [p.relative_to(stage).as_posix() for p in paths]
    return o


def _console_summary(summary: str) -> str:
    """summary.md without the per-run table (which can be long)."""
    return summary.split("\n## Runs\n")[0].rstrip()


if __name__ == "__main__":
    sys.exit(main())
