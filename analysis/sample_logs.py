"""``samples/<benchmark>.jsonl`` -> the sample and per-problem columns of ``Runs.samples`` and
``Runs.problems``, with the checks that point at a broken evaluation.

``read_samples`` appends one run's records as numpy arrays to an accumulator (``load_runs``
concatenates them): duplicates of one (eval_step, problem, sample) keep the last, per-problem
counts ``n``, ``c`` and the mean length are computed here. ``check_eval_completeness`` warns when
a step scored fewer problems than the run's others or when samples per problem differ.

May import: numpy, pandas and the analysis modules ``logfiles`` and ``schema``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.logfiles import Issue, read_jsonl_columns
from analysis.schema import SAMPLE_KNOWN, SAMPLE_REQUIRED


def _as_float(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iufb":
        return a.astype(np.float64)
    return pd.to_numeric(pd.Series(a, dtype=object), errors="coerce").to_numpy(np.float64)


def read_samples(run_dir: Path, run: str, issues: list[Issue], acc: dict[str, list]) -> None:
    """Append one run's samples and per-problem counts to ``acc`` (numpy arrays, one entry per file)."""
    sdir = run_dir / "samples"
    if not sdir.is_dir():
        issues.append(Issue("warning", run, "no samples/ directory: no evaluation to score"))
        return
    for path in sorted(sdir.glob("*.jsonl")):
        name = f"samples/{path.name}"
        cols = read_jsonl_columns(path, run, issues)
        if not cols:
            issues.append(Issue("warning", run, f"{name} is empty"))
            continue
        missing = [k for k in SAMPLE_REQUIRED if k not in cols]
        if missing:
            issues.append(Issue("warning", run, f"{name} lacks key(s) {missing}; file ignored"))
            continue
        unknown = sorted(set(cols) - SAMPLE_KNOWN)
        if unknown:
            issues.append(Issue("info", run, f"{name}: unknown key(s) {unknown} ignored"))
        step = _as_float(cols["eval_step"])
        sample = _as_float(cols["sample"])
        length = _as_float(cols["length"])
        correct = cols["correct"]
        pid = cols["problem_id"]
        ok = ~(np.isnan(step) | np.isnan(sample))
        if correct.dtype == object:
            ok &= ~pd.isna(correct)
        if pid.dtype == object:
            ok &= ~pd.isna(pid)
        if not ok.all():
            issues.append(Issue("warning", run, f"{name}: {int((~ok).sum())} record(s) with a missing "
                                                f"eval_step/problem_id/sample/correct ignored"))
        if correct.dtype != bool:
            if not np.all(np.isin(correct[ok], [True, False, 0, 1])):
                issues.append(Issue("warning", run, f"{name}: 'correct' is not boolean; file ignored"))
                continue
        if not ok.any():
            continue
        step, sample, length = step[ok].astype(np.int64), sample[ok].astype(np.int64), length[ok]
        correct = correct[ok].astype(bool)
        pid = np.asarray(pid[ok]).astype(str)
        puniq, pcode = np.unique(pid, return_inverse=True)
        # one int key per (eval_step, problem, sample); duplicates (a resume that did not truncate) keep the last
        skey, scode = np.unique(step, return_inverse=True)
        key = (scode.astype(np.int64) * len(puniq) + pcode) * (int(sample.max()) + 1) + sample
        _, first_from_end = np.unique(key[::-1], return_index=True)
        if first_from_end.size < key.size:
            keep = np.sort(key.size - 1 - first_from_end)
            issues.append(Issue("warning", run, f"{name}: {key.size - keep.size} duplicate (eval_step, problem_id, "
                                                f"sample) record(s); kept the last"))
            step, sample, length, correct, pid, pcode, scode = (a[keep] for a in
                                                                (step, sample, length, correct, pid, pcode, scode))
        # per-problem counts: one group per (eval_step, problem)
        gkey = scode.astype(np.int64) * len(puniq) + pcode
        gu, ginv = np.unique(gkey, return_inverse=True)
        run_code = acc["runs"].setdefault(run, len(acc["runs"]))
        bench_code = acc["benches"].setdefault(path.stem, len(acc["benches"]))
        acc["p_run"].append(np.full(gu.size, run_code, dtype=np.int32))
        acc["p_bench"].append(np.full(gu.size, bench_code, dtype=np.int32))
        acc["p_step"].append(skey[gu // len(puniq)])
        acc["p_pid"].append(np.asarray(puniq, dtype=object)[gu % len(puniq)])
        acc["p_n"].append(np.bincount(ginv, minlength=gu.size).astype(np.int64))
        acc["p_c"].append(np.bincount(ginv, weights=correct, minlength=gu.size).astype(np.int64))
        with np.errstate(invalid="ignore", divide="ignore"):
            lsum = np.bincount(ginv, weights=np.nan_to_num(length), minlength=gu.size)
            lcnt = np.bincount(ginv, weights=~np.isnan(length), minlength=gu.size)
            acc["p_len"].append(np.where(lcnt > 0, lsum / lcnt, np.nan))
        acc["s_run"].append(np.full(step.size, run_code, dtype=np.int32))
        acc["s_bench"].append(np.full(step.size, bench_code, dtype=np.int32))
        acc["s_step"].append(step)
        acc["s_pid"].append(pid)
        acc["s_sample"].append(sample)
        acc["s_correct"].append(correct)
        acc["s_length"].append(length)


def check_eval_completeness(problems: pd.DataFrame, issues: list[Issue]) -> None:
    """Warn when an evaluation step scored fewer problems than the run's other steps, or when the
    number of samples differs between problems (both point at an interrupted evaluation)."""
    if problems.empty:
        return
    per = problems.groupby(["run_id", "benchmark", "eval_step"], observed=True).agg(
        probs=("n", "size"), nmin=("n", "min"), nmax=("n", "max")).reset_index()
    full = per.groupby(["run_id", "benchmark"], observed=True)["probs"].transform("max")
    for r in per[per["probs"] < full].itertuples():
        issues.append(Issue("warning", r.run_id, f"samples/{r.benchmark}.jsonl eval_step {r.eval_step}: only "
                                                 f"{r.probs} problems (other steps have more); interrupted "
                                                 f"evaluation?"))
    for r in per[per["nmin"] != per["nmax"]].itertuples():
        issues.append(Issue("warning", r.run_id, f"samples/{r.benchmark}.jsonl eval_step {r.eval_step}: "
                                                 f"between {r.nmin} and {r.nmax} samples per problem; pass@k "
                                                 f"uses each problem's own n, k is capped by the smallest"))
