"""``python -m core.curriculum``: score a training set by semantic entropy and write
``OUT/semantic_entropy.jsonl`` (ascending order, with stages) -- what the verl backend runs on vLLM
before training (``curriculum.scores_path``), or a look at the scores.

The prompts are the dataset's own training prompts (``core.eval.benchmarks.prompt_builder``: the chat
template and the paper's instruction for the math data, the plain question for a backend's registered
data such as the embedded ``synth_*`` benchmarks), so this module names no backend.

Imports ``core.curriculum``'s own modules and ``core.eval`` (benchmarks, graders, generators).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path

from core.curriculum.base import PromptItem, _digest
from core.curriculum.entropy import (DEFAULT_M, DEFAULT_UNPARSEABLE, DEFAULT_VARIANT, UNPARSEABLE_RULES, VARIANTS,
                                     _check_m)
from core.curriculum.plan import order_and_split, stage_sizes, write_semantic_entropy_jsonl
from core.curriculum.scoring import model_key_of_path, score_prompts

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m core.curriculum",
        description="Score every training prompt by semantic entropy (SENT §IV-A) and write "
                    "OUT/semantic_entropy.jsonl (ascending order, with stages). On a GPU node: "
                    "python -m core.curriculum --model deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B --out se/ ; "
                    "then train with backend=verl curriculum=semantic_entropy curriculum.scores_path=se/semantic_entropy.jsonl")
    p.add_argument("--model", required=True, help="model directory / hub id (vllm) or embedded model file/dir")
    p.add_argument("--backend", default="vllm", help="generator: vllm (GPUs) or embedded (CPU); default vllm")
    p.add_argument("--data", default="dapo_math_17k", help="training-set key (core.eval.benchmarks); default dapo_math_17k")
    p.add_argument("--m", type=int, default=DEFAULT_M, help="samples per prompt (SENT: 8)")
    p.add_argument("--variant", default=DEFAULT_VARIANT, choices=VARIANTS)
    p.add_argument("--unparseable", default=DEFAULT_UNPARSEABLE, choices=UNPARSEABLE_RULES)
    p.add_argument("--stages", type=int, default=2, help="curriculum stages recorded in the file (SENT: 2)")
    p.add_argument("--stage-fractions", default=None, help="comma-separated, e.g. 0.5,0.5 (default: equal)")
    p.add_argument("--max-new-tokens", type=int, default=2048, help="SENT §V-A: max response length 2048")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=1024, help="prompts per generate call")
    p.add_argument("--limit", type=int, default=None, help="score only the first N prompts (a trial)")
    p.add_argument("--model-key", default=None, help="cache fingerprint of the model (default: from its files)")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--grade-workers", type=int, default=min(8, os.cpu_count() or 1),
                   help="math-verify grading subprocesses (default: min(8, CPUs))")
    p.add_argument("--gen-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="extra generator argument, e.g. tensor_parallel_size=2 (JSON values)")
    p.add_argument("--out", required=True, help="output folder (semantic_entropy.jsonl is written there)")
    p.add_argument("--dry-run", action="store_true", help="validate and print the plan; build no generator")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, score, write ``OUT/semantic_entropy.jsonl``; the exit code (0; errors raise)."""
    args = _parser().parse_args(argv)
    from core.eval.benchmarks import grader_for, load_benchmark, prompt_builder
    from core.eval.generation import make_generator

    _check_m(args.m)
    fractions = [float(x) for x in args.stage_fractions.split(",")] if args.stage_fractions else None
    problems = load_benchmark(args.data)[:args.limit] if args.limit else load_benchmark(args.data)
    stage_sizes(len(problems), args.stages, fractions)  # fail before sampling
    grader = grader_for(args.data)
    model_key = args.model_key or (model_key_of_path(args.model) if Path(args.model).exists()
                                   else "hub-" + _digest(args.model)[:16])
    gen_kwargs = {}
    for kv in args.gen_arg:
        k, sep, v = kv.partition("=")
        if not sep:
            raise SystemExit(f"--gen-arg expects KEY=VALUE, got {kv!r}")
        try:
            gen_kwargs[k] = json.loads(v)
        except ValueError:
            gen_kwargs[k] = v
    if args.backend == "vllm":
        gen_kwargs.setdefault("logprobs", args.variant != "count")
    print(f"[curriculum] {len(problems)} prompts of {args.data} x M={args.m}, {args.backend} model {args.model} "
          f"(key {model_key}), T={args.temperature}, top-p={args.top_p}, <= {args.max_new_tokens} tokens, "
          f"variant={args.variant}, unparseable={args.unparseable}, grader={grader.name}, stages={args.stages}")
    if args.dry_run:
        return 0
    gen = make_generator(args.backend, model_path=args.model, **gen_kwargs)
    build, tok = prompt_builder(args.data), getattr(gen, "tokenizer", None)
    items = [PromptItem(p.id, build(p.question, tok), p.answer) for p in problems]
    scores = score_prompts(gen, items, grader, m=args.m, variant=args.variant, unparseable=args.unparseable,
                           seed=args.seed, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                           top_p=args.top_p, batch_size=args.batch_size, model_key=model_key,
                           cache_dir=args.cache_dir, grade_workers=args.grade_workers)
    split = order_and_split(scores, args.stages, fractions)
    stage_of = {i: k for k, ids in enumerate(split, 1) for i in ids}
    path = write_semantic_entropy_jsonl(args.out, scores, stage_of)
    se = sorted(s.semantic_entropy for s in scores)
    print(f"[curriculum] wrote {path}: SE median {se[len(se) // 2]:.3f}, "
          + ", ".join(f"stage {k}: {len(ids)} prompts" for k, ids in enumerate(split, 1)))
    return 0
