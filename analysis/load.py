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
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

SCHEMA_VERSION = 1

META_REQUIRED = ("schema_version", "method", "seed", "model")
META_KNOWN = {"schema_version", "method", "method_version", "seed", "backend", "model", "curriculum",
              "curriculum_stages", "git_sha", "dirty", "versions", "started", "method_scale"}
SAMPLE_REQUIRED = ("eval_step", "problem_id", "sample", "correct", "length")
SAMPLE_KNOWN = set(SAMPLE_REQUIRED) | {"answer"}
TRAIN_KNOWN_PREFIXES = ("train/", "method/", "time/", "eval/")
TRAIN_KNOWN = {"step", "stage", "epoch"}
TOKEN_STATS_KNOWN = {"step", "stage", "entropy_hist", "cov_hist", "low_entropy_tokens", "high_entropy_tokens"}
SEMANTIC_KNOWN = {"id", "semantic_entropy", "variant", "num_clusters", "stage",
                  # written by core.curriculum beside the score (its diagnostics; the analysis does not read them)
                  "m", "unparseable", "num_unparseable", "num_correct"}
# config.yaml keys that do not change what a run computes (as sweep.py leaves them out of run names),
# plus the seed: runs whose configs agree on everything else are replicates of one *setting*
SETTING_EXCLUDE = ("seed", "runs_root", "sweep_name", "backend.threads", "backend.progress", "backend.dry_run",
                   "hydra")


@dataclass(frozen=True)
class Issue:
    """Something noteworthy about one run. ``level``: ``skipped`` (run left out), ``warning`` (run
    used, part of it ignored or suspicious), ``info`` (harmless, e.g. unknown extra keys)."""

    level: str
    run: str
    message: str


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
# JSONL reading
# --------------------------------------------------------------------------------------------------

def _read_lines(path: Path, run: str, issues: list[Issue]) -> bytes:
    """The file's complete lines. A last line without its newline that does not parse is a crash
    mid-write: it is dropped with a warning."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        tail = data[cut:]
        try:
            json.loads(tail)
            data = data + b"\n"  # a complete last line that only lacks its newline
        except ValueError:
            line_no = data.count(b"\n") + 1
            issues.append(Issue("warning", run, f"{_rel(path)}: truncated last line ({len(tail)} bytes, line "
                                                f"{line_no}) ignored"))
            data = data[:cut]
    return data


def _parse_lines(data: bytes, path: Path, run: str, issues: list[Issue]) -> list[dict]:
    """Exact line-by-line parse; a bad line that is not the last means a corrupt file: reported."""
    rows, bad = [], []
    for i, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            bad.append(i)
            continue
        if not isinstance(obj, dict):
            bad.append(i)
            continue
        rows.append(obj)
    if bad:
        shown = ", ".join(map(str, bad[:5])) + (" ..." if len(bad) > 5 else "")
        issues.append(Issue("warning", run, f"{_rel(path)}: {len(bad)} corrupt line(s) (not the last) ignored: "
                                            f"line {shown}"))
    return rows


def read_jsonl(path: Path, run: str, issues: list[Issue]) -> list[dict]:
    """One append-only JSONL file as a list of dicts (tolerates a truncated last line)."""
    return _parse_lines(_read_lines(path, run, issues), path, run, issues)


def read_jsonl_columns(path: Path, run: str, issues: list[Issue]) -> dict[str, np.ndarray]:
    """One JSONL file as columns (numpy arrays; missing values None/NaN), parsed by pyarrow (C++)
    when it accepts the file, else line by line (e.g. a column whose type changes, a corrupt line)."""
    data = _read_lines(path, run, issues)
    if not data or data.isspace():
        return {}
    try:
        import pyarrow.json as paj

        table = paj.read_json(io.BytesIO(data), read_options=paj.ReadOptions(block_size=1 << 20))
        return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
    except Exception:  # noqa: BLE001 - any refusal falls back to the exact line-by-line parser
        rows = _parse_lines(data, path, run, issues)
        if not rows:
            return {}
        df = pd.DataFrame.from_records(rows)
        return {c: df[c].to_numpy() for c in df.columns}


def _rel(path: Path) -> str:
    parts = path.parts
    return "/".join(parts[-2:]) if parts[-2] == "samples" else parts[-1]


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


def parse_run_name(name: str) -> dict[str, str]:
    """``method=sent,method.low_entropy_frac=0.7,seed=0`` -> dict. Segments without ``=`` continue
    the previous value (a value that itself contains a comma)."""
    out: dict[str, str] = {}
    last = None
    for seg in name.split(","):
        if "=" in seg:
            k, v = seg.split("=", 1)
            k = k.lstrip("+~")
            out[k] = v
            last = k
        elif last is not None:
            out[last] += "," + seg
    return out


def _read_yaml(path: Path):
    import yaml

    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def flatten(d: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists kept as values)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _get(d, dotted, default=None):
    cur = d
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def _read_meta(run_dir: Path, run: str, issues: list[Issue]) -> dict | None:
    mpath = run_dir / "meta.json"
    if not mpath.exists():
        issues.append(Issue("skipped", run, "no meta.json (not a run directory of the contract, or a run "
                                            "that never started); remove it or rerun it"))
        return None
    try:
        meta = json.loads(mpath.read_text(encoding="utf-8"))
    except ValueError as e:
        issues.append(Issue("skipped", run, f"meta.json is not valid JSON ({e}); rerun the run"))
        return None
    if not isinstance(meta, dict):
        issues.append(Issue("skipped", run, "meta.json is not a JSON object; rerun the run"))
        return None
    missing = [k for k in META_REQUIRED if k not in meta]
    if missing:
        issues.append(Issue("skipped", run, f"meta.json lacks required key(s) {missing}"))
        return None
    try:
        version = int(meta["schema_version"])
    except (TypeError, ValueError):
        issues.append(Issue("skipped", run, f"meta.json schema_version={meta['schema_version']!r} is not an int"))
        return None
    if version != SCHEMA_VERSION:
        which = "older" if version < SCHEMA_VERSION else "newer"
        issues.append(Issue("skipped", run, f"schema_version {version} is {which} than the {SCHEMA_VERSION} this "
                                            f"analysis reads; rerun it with the current harness"
                                            + (" or update the analysis" if which == "newer" else "")))
        return None
    unknown = sorted(set(meta) - META_KNOWN)
    if unknown:
        issues.append(Issue("info", run, f"meta.json: unknown key(s) {unknown} ignored"))
    return meta


def _run_record(run_dir: Path, run: str, meta: dict, issues: list[Issue]) -> dict:
    cfg = None
    cpath = run_dir / "config.yaml"
    if cpath.exists():
        try:
            cfg = _read_yaml(cpath)
        except Exception as e:  # noqa: BLE001 - report any YAML error and carry on without config
            issues.append(Issue("warning", run, f"config.yaml unreadable ({e}); hyperparameters unknown"))
    else:
        issues.append(Issue("warning", run, "no config.yaml; hyperparameters unknown (Table VII cannot use it)"))
    cfg = cfg if isinstance(cfg, dict) else {}
    mcfg = cfg.get("method") if isinstance(cfg.get("method"), dict) else {}
    hparams = {k: v for k, v in mcfg.items() if k != "name"}
    if mcfg.get("name") not in (None, meta["method"]):
        issues.append(Issue("warning", run, f"config.yaml method.name={mcfg.get('name')!r} differs from "
                                            f"meta.json method={meta['method']!r}; using meta.json"))
    done_path = run_dir / "DONE"
    done = done_path.exists()
    if not done:
        issues.append(Issue("warning", run, "no DONE: the run is incomplete"))
    curriculum = meta.get("curriculum", _get(cfg, "curriculum.name", "none")) or "none"
    stages = meta.get("curriculum_stages", _get(cfg, "curriculum.stages", 1))
    eval_k = _get(cfg, "eval.k")
    flat = {k: v for k, v in flatten(cfg).items()
            if not any(k == e or k.startswith(e + ".") for e in SETTING_EXCLUDE)}
    flat.update({"meta.method": meta["method"], "meta.model": meta["model"], "meta.curriculum": str(curriculum),
                 "meta.curriculum_stages": int(stages if stages is not None else 1)})
    return {
        "run_id": run,
        "path": str(run_dir),
        "sweep": run_dir.parent.name,
        "run_name": run_dir.name,
        "method": str(meta["method"]),
        "method_version": meta.get("method_version"),
        "seed": int(meta["seed"]),
        "model": str(meta["model"]),
        "backend": meta.get("backend"),
        "curriculum": str(curriculum),
        "curriculum_stages": int(stages if stages is not None else 1),
        "git_sha": meta.get("git_sha"),
        "dirty": meta.get("dirty"),
        "schema_version": int(meta["schema_version"]),
        "versions": meta.get("versions") or {},
        "started": meta.get("started"),
        "hparams": hparams,
        "eval_n": _get(cfg, "eval.n"),
        "eval_k": list(eval_k) if isinstance(eval_k, (list, tuple)) else None,
        "done": done,
        "overrides": parse_run_name(run_dir.name),
        # what the run *is* apart from its seed: runs sharing it are replicates (analysis.select)
        "config": flat,
        "setting": json.dumps(flat, sort_keys=True, default=str),
    }


def _as_float(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iufb":
        return a.astype(np.float64)
    return pd.to_numeric(pd.Series(a, dtype=object), errors="coerce").to_numpy(np.float64)


def _read_samples(run_dir: Path, run: str, issues: list[Issue], acc: dict[str, list]) -> None:
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

def _check_eval_completeness(problems: pd.DataFrame, issues: list[Issue]) -> None:
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
        meta = _read_meta(run_dir, run, issues)
        if meta is None:
            continue
        try:
            rec = _run_record(run_dir, run, meta, issues)
        except (TypeError, ValueError) as e:
            issues.append(Issue("skipped", run, f"meta.json has a value of the wrong type ({e})"))
            continue
        metas.append(rec)
        _read_samples(run_dir, run, issues, acc)
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
    _check_eval_completeness(problems, issues)
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
