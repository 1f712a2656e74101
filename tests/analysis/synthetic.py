"""Write run directories that follow the run-log contract, for tests and the speed benchmark.

``write_run`` writes exactly the files a backend writes (docs/runlog.md) from plain Python data;
``synthetic_sweep`` fills a runs directory with embedded-like runs whose accuracy depends on the
method and seed in a known way. Nothing here trains anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

SYNTH_BENCHMARKS = tuple(f"synth_{i}" for i in range(1, 7))
HELDOUT_BENCHMARKS = ("synth_7", "synth_8")  # preset=discriminating's, not in the paper (no twin)

def default_hparams(method: str) -> dict:
    """A method's paper defaults, as a run's config.yaml records them (the torch-free method catalog)."""
    from analysis.paper import method_catalog

    info = method_catalog().get(method)
    return dict(info.defaults) if info is not None else {}


def _default_curriculum(method: str) -> str:
    from analysis.paper import method_catalog

    info = method_catalog().get(method)
    return info.default_curriculum if info is not None else "none"


def _jsonl(path: Path, rows: Iterable[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def write_run(run_dir: Path, *, method: str, seed: int, model: str = "tiny", curriculum: str | None = None,
              stages: int | None = None, hparams: dict | None = None, samples: dict[str, list[dict]] | None = None,
              train: list[dict] | None = None, token_stats: list[dict] | None = None,
              semantic_entropy: list[dict] | None = None, done: bool = True, n: int = 8,
              ks: tuple[int, ...] = (1, 8, 16, 32), meta_extra: dict | None = None,
              config_extra: dict[str, dict] | None = None, schema_version: int = 1) -> Path:
    """Write one run directory; ``samples`` maps a benchmark key to its sample records."""
    run_dir = Path(run_dir)
    (run_dir / "samples").mkdir(parents=True, exist_ok=True)
    curriculum = curriculum or _default_curriculum(method)
    stages = stages if stages is not None else (2 if curriculum != "none" else 1)
    hp = dict(default_hparams(method), **(hparams or {}))
    meta = {"schema_version": schema_version, "method": method, "method_version": 1, "seed": seed,
            "backend": "embedded", "model": model, "curriculum": curriculum, "curriculum_stages": stages,
            "git_sha": "0123456789abcdef0123456789abcdef01234567", "dirty": False,
            "versions": {"torch": "2.13.0", "verl": "0.9.1"}, "started": "2026-01-01T00:00:00Z"}
    meta.update(meta_extra or {})
    (run_dir / "meta.json").write_text(json.dumps(meta, indent=1))
    import yaml

    cfg = {"seed": seed, "method": {"name": method, **hp}, "model": {"name": model}, "backend": {"name": "embedded"},
           "curriculum": {"name": curriculum, "stages": stages},
           "eval": {"n": n, "k": list(ks), "benchmarks": sorted((samples or {}).keys())},
           "runs_root": str(run_dir.parent.parent), "sweep_name": run_dir.parent.name}
    for group, values in (config_extra or {}).items():
        cfg.setdefault(group, {}).update(values)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    for bench, recs in (samples or {}).items():
        _jsonl(run_dir / "samples" / f"{bench}.jsonl", recs)
    if train is not None:
        _jsonl(run_dir / "train.jsonl", train)
    if token_stats is not None:
        _jsonl(run_dir / "token_stats.jsonl", token_stats)
    if semantic_entropy is not None:
        _jsonl(run_dir / "semantic_entropy.jsonl", semantic_entropy)
    if done:
        (run_dir / "DONE").write_text(json.dumps({"finished": "2026-01-01T01:00:00Z",
                                                  "steps": max((t["step"] for t in train or []), default=0)}))
    return run_dir


def samples_from_counts(counts: dict[int, list[int]], n: int, length: int = 100) -> list[dict]:
    """Sample records for one benchmark: ``counts[eval_step][p]`` = correct samples of problem p
    (the first c samples are the correct ones)."""
    recs = []
    for step, cs in counts.items():
        for p, c in enumerate(cs):
            for s in range(n):
                recs.append({"eval_step": step, "problem_id": f"p{p}", "sample": s, "correct": s < c,
                             "length": length + s, "answer": str(s) if s < c else None})
    return recs


METHOD_SKILL = {"grpo": 0.0, "en": 0.05, "adv": 0.02, "mask": 0.08, "clip": 0.06, "cov": 0.05, "high_en": 0.03,
                "sent": 0.12, "low": 0.07, "low_cov": 0.09, "cur": 0.04}


def synthetic_sweep(root: Path, *, methods=("grpo", "en", "adv", "mask", "clip", "cov", "high_en", "sent"),
                    seeds=(0, 1, 2), model: str = "tiny", n: int = 32, problems: int = 64,
                    eval_steps=(0, 20, 40, 60), train_steps: int = 60, sweep: str = "default",
                    rng_seed: int = 0, extra_benchmarks: tuple[str, ...] = ()) -> list[Path]:
    """Embedded-like runs: accuracy rises with training and with the method's ``METHOD_SKILL``,
    falls with benchmark difficulty; entropy curves, token stats and (for SENT) semantic entropy.
    ``extra_benchmarks`` (e.g. ``HELDOUT_BENCHMARKS``) are evaluated too, harder than ``synth_6``; without
    them every draw is the same as before they existed."""
    rng = np.random.default_rng(rng_seed)
    out = []
    edges = np.linspace(0.0, 4.0, 41).round(3).tolist()
    words = ["the", "of", "to", "=", "+", "so", "we", "2", "x", "answer", "wait", "maybe", "check", "let", "is"]
    for method in methods:
        for seed in seeds:
            r = np.random.default_rng(rng.integers(1 << 31))
            samples = {}
            for bi, bench in enumerate(SYNTH_BENCHMARKS + tuple(extra_benchmarks)):
                difficulty = rng.uniform(-1, 1, problems) + 0.4 * bi
                counts = {}
                for step in eval_steps:
                    skill = 1.0 + METHOD_SKILL.get(method, 0.0) * 10 * step / max(eval_steps) + 0.1 * seed
                    p = 1.0 / (1.0 + np.exp(2.0 * (difficulty - skill + 1.5)))
                    counts[step] = r.binomial(n, p).tolist()
                recs = []
                for step, cs in counts.items():
                    for pi, c in enumerate(cs):
                        correct = np.zeros(n, bool)
                        correct[r.choice(n, c, replace=False)] = True
                        lens = r.integers(20, 200, n)
                        for s in range(n):
                            recs.append({"eval_step": step, "problem_id": f"{bench}-{pi}", "sample": s,
                                         "correct": bool(correct[s]), "length": int(lens[s]),
                                         "answer": "42" if correct[s] else None})
                samples[bench] = recs
            h0 = 1.2 + 0.1 * seed
            decay = {"en": -0.01, "sent": 0.004, "mask": 0.008}.get(method, 0.015)
            train = [{"step": t, "stage": 1 if (method != "sent" or t <= train_steps // 2) else 2, "epoch": 0,
                      "train/reward": float(min(1, 0.3 + 0.005 * t)), "train/acc": float(min(1, 0.3 + 0.005 * t)),
                      "train/entropy": float(max(0.05, h0 * np.exp(-decay * t) + r.normal(0, 0.02))),
                      "train/response_len": float(100 + t), "train/pg_loss": float(r.normal()),
                      "train/grad_norm": float(abs(r.normal())), "train/lr": 1e-6, "time/step": 0.5}
                     for t in range(1, train_steps + 1)]
            token_stats = []
            for t in range(10, train_steps + 1, 10):
                counts_h = (1000 * np.exp(-np.linspace(0, 4, 40) * 2)).astype(int).tolist()
                rec = {"step": t, "stage": 1, "entropy_hist": {"edges": edges, "counts": counts_h}}
                if t == 10:
                    rec["low_entropy_tokens"] = {w: int(r.integers(1, 100)) for w in words[:10]}
                    rec["high_entropy_tokens"] = {w: int(r.integers(1, 50)) for w in words[5:]}
                token_stats.append(rec)
            sem = None
            if method == "sent":
                sem = [{"id": f"q{i}", "semantic_entropy": float(r.gamma(4, 0.35)), "variant": "exact",
                        "num_clusters": int(r.integers(1, 8)), "stage": 1 + int(i >= 50)} for i in range(100)]
            run_dir = Path(root) / sweep / f"method={method},seed={seed}"
            write_run(run_dir, method=method, seed=seed, model=model, samples=samples, train=train,
                      token_stats=token_stats, semantic_entropy=sem, n=n)
            out.append(run_dir)
    return out
