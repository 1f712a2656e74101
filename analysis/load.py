"""Read run directories (the run-log contract, docs/runlog.md) into tidy pandas frames.

``load_runs(root)`` walks ``root`` for run directories and returns a ``Runs`` object holding one
documented frame per log file. Nothing here computes metrics; nothing here knows about the paper.

Frames (one row per ...):

``meta``              run. ``run_id`` (path relative to the root), ``sweep``, ``run_name``, the
                      meta.json keys (``method``, ``seed``, ``model``, ``curriculum``,
                      ``curriculum_stages``, ``git_sha``, ``dirty``, ``schema_version``, ...), and from
                      config.yaml ``hparams`` (dict of the flat ``method.*`` fields), ``eval_n``,
                      ``eval_k``; ``done`` (DONE present), ``overrides`` (dict parsed from run_name),
                      ``config`` (flat config without seed and bookkeeping keys) and ``setting`` (its
                      JSON: runs with equal settings are seeds of one experiment).
``samples``           generated evaluation sample: ``run_id, benchmark, eval_step, problem_id, sample,
                      correct, length`` (``answer`` is not kept: nothing downstream needs it).
``problems``          (run, benchmark, eval_step, problem): ``n`` samples, ``c`` correct,
                      ``len_mean`` mean length. Derived from ``samples``; every metric starts here.
``train``             optimizer step: ``run_id, step, stage, epoch`` and every numeric metric column.
``token_hist``        histogram bin of a token_stats line: ``run_id, step, stage, kind`` (``entropy`` or
                      ``cov``), ``left, right, count``.
``token_sets``        decoded token of a token_stats token set: ``run_id, step, set`` (``low``/``high``),
                      ``token, count``.
``semantic_entropy``  training prompt: ``run_id, id, semantic_entropy, variant, num_clusters, stage``.

Problems found while reading (truncated last lines, runs without DONE, unknown keys, older or newer
schema versions, corrupt files) are collected as ``Issue`` records, never raised, so one bad run
does not stop the rebuild. Runs that cannot be used are left out of every frame and listed with
level ``skipped``.

This module owns finding run directories, the ``Runs`` table and its assembly (``load_runs``) and
the readers of train.jsonl, token_stats.jsonl and semantic_entropy.jsonl. The JSONL reading is in
``logfiles``, the contract's keys and meta.json/config.yaml in ``schema``, the samples in
``sample_logs``. May import: the standard library, numpy, pandas, tqdm (lazily) and those three.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.logfiles import Issue, read_jsonl
from analysis.sample_logs import check_eval_completeness, read_samples
from analysis.schema import SEMANTIC_KNOWN, TOKEN_STATS_KNOWN, TRAIN_KNOWN, TRAIN_KNOWN_PREFIXES, read_meta, run_record

__all__ = ["Issue", "Options", "Runs", "find_run_dirs", "load_runs"]


@dataclass
class Options:
    """How the tables are built (the CLI's options)."""

    eval_step: str | int = "final"  # "final" (each run's last eval_step) or an eval_step number
    include_incomplete: bool = False  # also use runs without DONE
    reps: int = 2000  # bootstrap resamples
    random_state: int = 0  # bootstrap seed
    confidence: float = 0.95


@dataclass
class Runs:
    """Everything read from one runs directory; see the module docstring for the frames."""

    root: Path
    meta: pd.DataFrame
    samples: pd.DataFrame
    problems: pd.DataFrame
    train: pd.DataFrame
    token_hist: pd.DataFrame
    token_sets: pd.DataFrame
    semantic_entropy: pd.DataFrame
    issues: list[Issue] = field(default_factory=list)
    candidates: int = 0  # run directories found, usable or not
    cache: dict = field(default_factory=dict, repr=False)  # derived frames, filled by analysis.scores
    options: Options = field(default_factory=Options)

    def usable_meta(self) -> pd.DataFrame:
        """Runs the tables and figures use: finished ones (DONE), unless ``include_incomplete``."""
        if self.meta.empty or self.options.include_incomplete:
            return self.meta
        return self.meta[self.meta["done"].astype(bool)]


# --------------------------------------------------------------------------------------------------
# discovery and per-run reading
# --------------------------------------------------------------------------------------------------

RUN_MARKERS = ("meta.json", "config.yaml", "DONE", "train.jsonl", "samples")


def find_run_dirs(root: Path) -> list[Path]:
    """Directories under ``root`` (or ``root`` itself) that look like runs, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        names = set(filenames) | set(dirnames)
        if any(m in names for m in RUN_MARKERS):
            found.append(Path(dirpath))
            dirnames[:] = []  # a run does not contain runs (checkpoints/, samples/ are its own)
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    return sorted(found)


def _flag_step_gaps(run_dir: Path, run: str, steps: list, issues: list[Issue]) -> None:
    """Warn when train.jsonl lacks steps between 1 and its last step (or the ``steps`` DONE records): a
    damaged log whose curves would silently skip steps."""
    have = {s for s in steps if isinstance(s, int) and not isinstance(s, bool)}
    if not have:
        return
    last = max(have)
    try:
        done_steps = json.loads((run_dir / "DONE").read_text(encoding="utf-8")).get("steps")
        if isinstance(done_steps, int) and not isinstance(done_steps, bool) and done_steps > last:
            last = done_steps
    except (OSError, ValueError, AttributeError):
        pass
    missing = sorted(set(range(1, last + 1)) - have)
    if missing:
        from core.runlog import step_ranges  # torch-free: the run-log contract's own step-range text

        issues.append(Issue("warning", run, f"train.jsonl: step gap, {len(missing)} of steps 1..{last} missing "
                                            f"({step_ranges(missing)}); the curves skip them (a damaged log)"))


def _read_train(run_dir: Path, run: str, issues: list[Issue], acc: list[dict]) -> None:
    path = run_dir / "train.jsonl"
    if not path.exists():
        return
    rows = read_jsonl(path, run, issues)
    if not rows:
        return
    keys = set().union(*rows)
    if "step" not in keys:
        issues.append(Issue("warning", run, "train.jsonl has no 'step' key; ignored"))
        return
    unknown = sorted(k for k in keys if k not in TRAIN_KNOWN and not k.startswith(TRAIN_KNOWN_PREFIXES))
    if unknown:
        issues.append(Issue("info", run, f"train.jsonl: unknown key(s) {unknown[:8]} ignored"))
    steps = [r.get("step") for r in rows]
    if len(set(steps)) < len(steps):
        issues.append(Issue("warning", run, "train.jsonl: repeated step numbers (a resume that did not "
                                            "truncate?); kept the last of each"))
        last = {st: i for i, st in enumerate(steps)}
        rows = [rows[i] for i in sorted(last.values())]
    _flag_step_gaps(run_dir, run, [r.get("step") for r in rows], issues)
    for r in rows:
        rec = {k: v for k, v in r.items() if (k in TRAIN_KNOWN or k.startswith(TRAIN_KNOWN_PREFIXES))
               and (v is None or isinstance(v, (int, float)))}
        rec["run_id"] = run
        acc.append(rec)


def _read_token_stats(run_dir: Path, run: str, issues: list[Issue], hist: dict[str, list], sets: dict[str, list]):
    path = run_dir / "token_stats.jsonl"
    if not path.exists():
        return
    unknown = set()
    for r in read_jsonl(path, run, issues):
        unknown |= set(r) - TOKEN_STATS_KNOWN
        step, stage = r.get("step"), r.get("stage", 1)
        for kind in ("entropy", "cov"):
            h = r.get(f"{kind}_hist")
            if not isinstance(h, dict):
                continue
            edges, counts = h.get("edges"), h.get("counts")
            if not isinstance(edges, list) or not isinstance(counts, list) or len(edges) != len(counts) + 1:
                issues.append(Issue("warning", run, f"token_stats.jsonl step {step}: malformed {kind}_hist "
                                                    f"(need len(edges) == len(counts) + 1); ignored"))
                continue
            e = np.asarray(edges, dtype=float)
            m = len(counts)
            hist["run_id"] += [run] * m
            hist["step"] += [step] * m
            hist["stage"] += [stage] * m
            hist["kind"] += [kind] * m
            hist["left"].append(e[:-1])
            hist["right"].append(e[1:])
            hist["count"].append(np.asarray(counts, dtype=float))
        for which in ("low", "high"):
            toks = r.get(f"{which}_entropy_tokens")
            if isinstance(toks, dict) and toks:
                m = len(toks)
                sets["run_id"] += [run] * m
                sets["step"] += [step] * m
                sets["set"] += [which] * m
                sets["token"] += list(toks.keys())
                sets["count"] += [float(v) for v in toks.values()]
    if unknown:
        issues.append(Issue("info", run, f"token_stats.jsonl: unknown key(s) {sorted(unknown)} ignored"))


def _read_semantic(run_dir: Path, run: str, issues: list[Issue], acc: list[dict]) -> None:
    path = run_dir / "semantic_entropy.jsonl"
    if not path.exists():
        return
    rows = read_jsonl(path, run, issues)
    keys = set().union(*rows) if rows else set()
    if rows and "semantic_entropy" not in keys:
        issues.append(Issue("warning", run, "semantic_entropy.jsonl lacks 'semantic_entropy'; ignored"))
        return
    unknown = sorted(keys - SEMANTIC_KNOWN)
    if unknown:
        issues.append(Issue("info", run, f"semantic_entropy.jsonl: unknown key(s) {unknown} ignored"))
    for i, r in enumerate(rows):
        acc.append({"run_id": run, "id": str(r.get("id", i)), "semantic_entropy": r.get("semantic_entropy"),
                    "variant": r.get("variant"), "num_clusters": r.get("num_clusters"), "stage": r.get("stage")})


# --------------------------------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------------------------------

def _cat(chunks: list[np.ndarray], dtype=None) -> np.ndarray:
    return np.concatenate(chunks) if chunks else np.array([], dtype=dtype)


def load_runs(root: str | os.PathLike, *, progress: bool = False) -> Runs:
    """Read every run directory under ``root``. Raises ``FileNotFoundError`` only when ``root`` does
    not exist; everything else wrong is reported in ``Runs.issues``."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"runs directory {str(root)!r} does not exist; pass the directory that "
                                f"holds <sweep>/<run_name>/ run folders (default: runs/)")
    dirs = find_run_dirs(root)
    issues: list[Issue] = []
    metas: list[dict] = []
    acc: dict[str, list] = {k: [] for k in ("p_run", "p_bench", "p_step", "p_pid", "p_n", "p_c", "p_len", "s_run",
                                            "s_bench", "s_step", "s_pid", "s_sample", "s_correct", "s_length")}
    acc["runs"], acc["benches"] = {}, {}  # name -> code of the categorical run_id / benchmark columns
    trains: list[dict] = []
    sems: list[dict] = []
    hist: dict[str, list] = {k: [] for k in ("run_id", "step", "stage", "kind", "left", "right", "count")}
    sets: dict[str, list] = {k: [] for k in ("run_id", "step", "set", "token", "count")}
    it: Iterable[Path] = dirs
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(dirs, desc="reading runs", unit="run", leave=False)
    for run_dir in it:
        run = run_dir.relative_to(root).as_posix() if run_dir != root else run_dir.name
        meta = read_meta(run_dir, run, issues)
        if meta is None:
            continue
        try:
            rec = run_record(run_dir, run, meta, issues)
        except (TypeError, ValueError) as e:
            issues.append(Issue("skipped", run, f"meta.json has a value of the wrong type ({e})"))
            continue
        metas.append(rec)
        read_samples(run_dir, run, issues, acc)
        _read_train(run_dir, run, issues, trains)
        _read_token_stats(run_dir, run, issues, hist, sets)
        _read_semantic(run_dir, run, issues, sems)
    meta_df = pd.DataFrame.from_records(metas)
    if meta_df.empty:
        meta_df = pd.DataFrame(columns=["run_id", "method", "seed", "model", "curriculum", "curriculum_stages",
                                        "done", "hparams", "overrides", "git_sha", "dirty"])
    def cat(key: str, names: dict) -> pd.Categorical:
        return pd.Categorical.from_codes(_cat(acc[key], np.int32), categories=list(names))

    samples = pd.DataFrame({"run_id": cat("s_run", acc["runs"]), "benchmark": cat("s_bench", acc["benches"]),
                            "eval_step": _cat(acc["s_step"], np.int64), "problem_id": _cat(acc["s_pid"], object),
                            "sample": _cat(acc["s_sample"], np.int64), "correct": _cat(acc["s_correct"], bool),
                            "length": _cat(acc["s_length"], np.float64)})
    problems = pd.DataFrame({"run_id": cat("p_run", acc["runs"]), "benchmark": cat("p_bench", acc["benches"]),
                             "eval_step": _cat(acc["p_step"], np.int64), "problem_id": _cat(acc["p_pid"], object),
                             "n": _cat(acc["p_n"], np.int64), "c": _cat(acc["p_c"], np.int64),
                             "len_mean": _cat(acc["p_len"], np.float64)})
    check_eval_completeness(problems, issues)
    train = pd.DataFrame.from_records(trains) if trains else pd.DataFrame(columns=["run_id", "step", "stage"])
    if "stage" not in train.columns:
        train["stage"] = 1
    train["stage"] = train["stage"].fillna(1)
    train = train[["run_id"] + [c for c in train.columns if c != "run_id"]]
    token_hist = pd.DataFrame({"run_id": hist["run_id"], "step": hist["step"], "stage": hist["stage"],
                               "kind": hist["kind"], "left": _cat(hist["left"], float),
                               "right": _cat(hist["right"], float), "count": _cat(hist["count"], float)})
    return Runs(
        root=root,
        meta=meta_df,
        samples=samples,
        problems=problems,
        train=train,
        token_hist=token_hist,
        token_sets=pd.DataFrame(sets),
        semantic_entropy=(pd.DataFrame.from_records(sems) if sems else
                          pd.DataFrame(columns=["run_id", "id", "semantic_entropy", "variant", "num_clusters",
                                                "stage"])),
        issues=issues,
        candidates=len(dirs),
    )
