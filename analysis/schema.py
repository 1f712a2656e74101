"""The run-log contract as the analysis reads it (docs/runlog.md): which keys each file must and may
have, ``meta.json`` validation, and ``config.yaml`` + ``meta.json`` -> one row of the run table.

``read_meta`` checks a run's ``meta.json`` (required keys, ``schema_version``) and returns it or
``None`` with the reason as an ``Issue``; ``run_record`` builds the run's row of ``Runs.meta``
(hyperparameters, evaluation settings, the run's *setting*: its flat config without the seed and
bookkeeping keys, ``SETTING_EXCLUDE``). The ``*_KNOWN`` sets say which keys the readers expect;
others are reported as ``info``.

May import: the standard library, PyYAML and ``analysis.logfiles``.
"""

from __future__ import annotations

import json
from pathlib import Path

from analysis.logfiles import Issue

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


def read_meta(run_dir: Path, run: str, issues: list[Issue]) -> dict | None:
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


def run_record(run_dir: Path, run: str, meta: dict, issues: list[Issue]) -> dict:
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
