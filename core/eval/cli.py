"""Evaluate a model directory or checkpoint on the benchmarks: ``python -m core.eval``.

    python -m core.eval --model PATH --backend vllm --benchmarks aime24,math500 --n 32 --out DIR

writes ``DIR/samples/<benchmark>.jsonl`` (the run-log records, ``docs/runlog.md``) and
``DIR/eval_summary.json``, and prints pass@k / avg@k / len@k. Defaults are the paper's
evaluation settings (SENT Table XI): temperature 1.0, top-p 1.0, 8000 new tokens, n = 32,
k in {1, 8, 16, 32}, the six benchmarks. ``--dry-run`` loads and validates everything and prints
the plan without building the generator (no GPU, no vLLM needed). See docs/evaluation.md.

May import: the rest of ``core.eval`` and ``core.runlog``; transformers only for a dry run's tokenizer.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import re
import sys
from pathlib import Path

from core.eval.benchmarks import PAPER_BENCHMARKS, load_benchmark, prompt_builder
from core.eval.models import eval_model_for_id, get_eval_model
from core.eval.evaluation import DEFAULT_K, evaluate, read_samples, resolve_ks
from core.eval.generation import GPU_EXTRA_HINT, PromptError, generator_names, make_generator
from core.eval.grading import _unknown
from core.runlog import RunLog, atomic_write

_STEP_RE = re.compile(r"global_step_(\d+)")


def _csv(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in _csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _gen_arg(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)  # numbers, true/false, null
    except ValueError:
        return key, value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m core.eval",
        description="Evaluate a model on the math benchmarks; write samples/<benchmark>.jsonl records.",
    )
    p.add_argument("--model", required=True, help="model directory (HF format) or checkpoint path")
    p.add_argument("--backend", default="vllm", help="generator backend (registered name; default vllm)")
    p.add_argument("--benchmarks", type=_csv, default=list(PAPER_BENCHMARKS),
                   help="comma-separated keys (default: the six paper benchmarks)")
    p.add_argument("--out", required=True, help="output directory (gets samples/ and eval_summary.json)")
    p.add_argument("--n", type=int, default=32, help="samples per problem (paper: 32)")
    p.add_argument("--k", type=_ints, default=list(DEFAULT_K),
                   help="ks to report, comma-separated (default 1,8,16,32, cut to k <= n)")
    p.add_argument("--max-new-tokens", type=int, default=8000, help="paper: 8000")
    p.add_argument("--temperature", type=float, default=1.0, help="paper: 1.0")
    p.add_argument("--top-p", type=float, default=1.0, help="paper: 1.0")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="only the first N problems of each benchmark")
    p.add_argument("--eval-step", type=int, default=None,
                   help="eval_step written in the records (default: N from a global_step_N path, else 0)")
    p.add_argument("--gen-arg", type=_gen_arg, action="append", default=[], metavar="KEY=VALUE",
                   help="extra generator argument, e.g. tensor_parallel_size=4 (repeatable; JSON values)")
    p.add_argument("--grade-workers", type=int, default=None, help="grading subprocesses (default: auto)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE first (it may register generators, benchmarks, graders)")
    p.add_argument("--model-config", default=None, metavar="KEY",
                   help="an evaluation-only model config (core.eval.models, e.g. openpangu_embedded_1b_v1p1): its "
                        "generator defaults, and --out becomes a run folder the analysis reads as its column "
                        "(applied automatically when --model is its hub id)")
    p.add_argument("--dry-run", action="store_true", help="validate and print the plan; generate nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def infer_eval_step(model: str) -> int:
    """The N of the last ``global_step_N`` in ``model`` (verl checkpoint layout), else 0."""
    steps = _STEP_RE.findall(str(model))
    return int(steps[-1]) if steps else 0


def _local_tokenizer(model: str, trust_remote_code: bool = False):
    """The model's tokenizer if it is a local directory transformers can read, else None."""
    if not Path(model).is_dir():
        return None
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(model, local_files_only=True, trust_remote_code=trust_remote_code)
    except Exception:  # noqa: BLE001 - only a preview
        return None


def _print_table(summary: dict[str, dict[str, float]], file=None) -> None:
    file = file or sys.stdout
    if not summary:
        return
    metrics = list(next(iter(summary.values())))
    order = sorted(metrics, key=lambda m: (m.split("@")[0] != "pass", m.split("@")[0] != "avg", int(m.split("@")[1])))
    print("| benchmark | " + " | ".join(order) + " |", file=file)
    print("|---" * (len(order) + 1) + "|", file=file)
    for key, values in summary.items():
        cells = [f"{values[m]:.1f}" if m.startswith("len") else f"{100 * values[m]:.2f}" for m in order]
        print(f"| {key} | " + " | ".join(cells) + " |", file=file)
    print("(pass/avg in %, len in tokens)", file=file)


def dry_run(args, eval_step: int, ks: tuple[int, ...], gen_kwargs: dict) -> None:
    out = Path(args.out)
    print("python -m core.eval --dry-run: nothing is generated")
    print(f"  model:      {args.model}{'' if Path(args.model).exists() else '  (WARNING: no such local path)'}")
    print(f"  backend:    {args.backend}({', '.join(f'{k}={v!r}' for k, v in gen_kwargs.items())})")
    if args.backend == "vllm" and importlib.util.find_spec("vllm") is None:
        print(f"  WARNING:    vllm is not installed here; a real run needs `{GPU_EXTRA_HINT}` on a GPU machine")
    print(f"  sampling:   n={args.n} temperature={args.temperature} top_p={args.top_p} "
          f"max_new_tokens={args.max_new_tokens} seed={args.seed}")
    print(f"  metrics:    k={list(ks)}  eval_step={eval_step}")
    total = 0
    first = None
    for key in args.benchmarks:
        problems = load_benchmark(key)[: args.limit]
        first = first or (key, problems[0].question)
        path = out / "samples" / f"{key}.jsonl"
        note = ""
        if path.exists():
            same = sum(r.get("eval_step") == eval_step for r in read_samples(path))
            note = f"  (exists; {same} records of eval_step {eval_step} would be replaced)" if same else "  (exists; appended)"
        print(f"  {key:14s} {len(problems):5d} problems x {args.n} = {len(problems) * args.n:7d} samples -> {path}{note}")
        if key == "livecodebench":
            print(f"  {'':14s} {_lcb_source()}")
        total += len(problems) * args.n
    print(f"  total:      {total} samples; summary -> {out / 'eval_summary.json'}")
    tokenizer = _local_tokenizer(args.model, bool(gen_kwargs.get("trust_remote_code", False)))
    how = "through the model's chat template" if tokenizer is not None and getattr(tokenizer, "chat_template", None) else "as plain text: no local chat template found"
    print(f"  prompt ({how}), first problem of {first[0]}:")
    print("    " + prompt_builder(first[0])(first[1], tokenizer).replace("\n", "\n    "))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for module in args.plugin:
        importlib.import_module(module)
    if args.n < 1:
        parser.error("--n must be >= 1")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be >= 1")
    if not args.benchmarks:
        parser.error(f"--benchmarks: no benchmark key given; e.g. --benchmarks {','.join(PAPER_BENCHMARKS[:2])}")
    if not (args.temperature >= 0 and math.isfinite(args.temperature)):
        parser.error(f"--temperature {args.temperature} must be a finite number >= 0 (paper: 1.0)")
    if not 0 < args.top_p <= 1:
        parser.error(f"--top-p {args.top_p} must be in (0, 1] (paper: 1.0)")
    if args.max_new_tokens < 1:
        parser.error(f"--max-new-tokens {args.max_new_tokens} must be >= 1 (paper: 8000)")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        parser.error(f"--out {args.out} is an existing file; give a directory")
    try:
        ks = resolve_ks(args.k, args.n)
    except ValueError as exc:
        parser.error(str(exc))
    eval_step = args.eval_step if args.eval_step is not None else infer_eval_step(args.model)
    if args.backend not in generator_names():
        parser.error("--backend: " + _unknown("generator", args.backend, generator_names()).args[0])
    try:
        for key in args.benchmarks:  # validates keys and sizes before anything heavy
            load_benchmark(key)
    except (KeyError, ValueError, FileNotFoundError) as exc:  # FileNotFoundError: user-supplied data missing
        parser.error(str(exc.args[0]) if exc.args else str(exc))
    try:
        model_cfg = get_eval_model(args.model_config) if args.model_config else eval_model_for_id(args.model)
    except KeyError as exc:
        parser.error("--model-config: " + str(exc.args[0]))
    gen_kwargs = {"model_path": args.model, **(model_cfg.gen_args if model_cfg else {}), **dict(args.gen_arg)}

    if args.dry_run:
        dry_run(args, eval_step, ks, gen_kwargs)
        if model_cfg is not None:
            print(f"  model config: {model_cfg.key} ({model_cfg.label}; {model_cfg.notes})")
            print(f"  run folder:   {args.out} gets meta.json (method={model_cfg.contestant}, model={model_cfg.key}, "
                  f"seed={args.seed}), config.yaml and, when done, DONE: the analysis reads it as the "
                  f"{model_cfg.contestant!r} column")
        return 0

    try:
        generator = make_generator(args.backend, **gen_kwargs)
    except (ImportError, ValueError, OSError) as exc:  # a missing stack, an unloadable --model: one line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if model_cfg is not None:
        _start_run_folder(Path(args.out), model_cfg, args, gen_kwargs, ks)
    try:
        summary = evaluate(
            generator,
            args.benchmarks,
            run_dir=args.out,
            eval_step=eval_step,
            n=args.n,
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature,
            top_p=args.top_p,
            seed=args.seed,
            k=ks,
            limit=args.limit,
            progress=not args.no_progress,
            grade_workers=args.grade_workers,
        )
    except PromptError as exc:  # raised before any sample is generated or written
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _write_summary(Path(args.out), eval_step, args, summary,
                   gen_args={k: v for k, v in gen_kwargs.items() if k != "model_path"})
    if model_cfg is not None:
        RunLog(args.out).write_done({"steps": 0, "final": {}, "eval": summary})
    _print_table(summary)
    return 0


def _start_run_folder(out: Path, cfg, args, gen_kwargs: dict, ks) -> None:
    """``config.yaml`` and ``meta.json`` of an evaluation-only model's run folder (docs/runlog.md)."""
    log = RunLog(out)
    (out / "DONE").unlink(missing_ok=True)  # a re-evaluation: the folder is incomplete until it ends
    log.write_config({
        "seed": args.seed,
        "model": {"name": cfg.key, "hf_id": cfg.hf_id, "path": args.model, "eval_only": True},
        "method": {"name": cfg.contestant},
        "eval": {"benchmarks": list(args.benchmarks), "n": args.n, "k": list(ks), "max_new_tokens": args.max_new_tokens,
                 "temperature": args.temperature, "top_p": args.top_p, "limit": args.limit},
        "backend": {"name": f"evaluate:{args.backend}",
                    "gen_args": {k: v for k, v in gen_kwargs.items() if k != "model_path"}},
    })
    log.write_meta(method=cfg.contestant, method_version=1, seed=args.seed, backend=f"evaluate:{args.backend}",
                   model=cfg.key, curriculum="none", curriculum_stages=1)


def _lcb_source() -> str:
    """Where LiveCodeBench's problems came from and the release window (user-supplied data)."""
    from core.eval.code_benchmarks import livecodebench_path, livecodebench_window

    start, end = livecodebench_window()
    return f"from {livecodebench_path()}, contest_date {start or '-inf'} .. {end or '+inf'}"


def _write_summary(out: Path, eval_step: int, args, summary: dict, gen_args: dict) -> None:
    """``eval_summary.json``: ``{"<eval_step>": {"settings": .., "summary": ..}}``, atomically.

    Another call's summary of the same step (e.g. LiveCodeBench added to a training run's final
    step) keeps its other benchmarks; its settings move to ``earlier_settings``."""
    path = out / "eval_summary.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    old = data.get(str(eval_step)) or {}
    kept = {k: v for k, v in (old.get("summary") or {}).items() if k not in summary}
    entry = {
        "settings": {
            "model": args.model, "backend": args.backend, "benchmarks": args.benchmarks, "n": args.n,
            "max_new_tokens": args.max_new_tokens, "temperature": args.temperature, "top_p": args.top_p,
            "seed": args.seed, "limit": args.limit, "gen_args": gen_args,  # a model config's and --gen-arg's
            **({"livecodebench": _lcb_source()} if "livecodebench" in args.benchmarks else {}),
        },
        "summary": {**kept, **summary},
    }
    if kept:
        entry["earlier_settings"] = [*old.get("earlier_settings", []), old.get("settings")]
    data[str(eval_step)] = entry
    atomic_write(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    sys.exit(main())
