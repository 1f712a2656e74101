"""Semantic-entropy scoring speed on the embedded training set (target: <= 60 s on 2 cores).

    python benchmarks/bench_curriculum.py [--train-size 256] [--m 8] [--threads 1] [--model-cfg sweeps/model/tiny.yaml]

Builds (or loads from the cache) the embedded base model, then scores the fixed embedded training set
from scratch (a temporary cache folder, so nothing is reused): generation (batched KV-cache sampling),
grading and clustering. Prints the measured time, the ratio to the 60 s target, and the semantic-entropy
distribution under every variant with its rank correlation to the problem's number of terms (the
task's built-in difficulty) and to the base model's error rate -- the evidence in docs/curriculum.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_S = 60.0


def spearman(x, y) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def _counts(values):
    from collections import Counter

    return Counter(values)


def main() -> None:  # noqa: C901
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-size", type=int, default=None, help="default: curriculum.train_size of the YAML")
    ap.add_argument("--m", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: backend.threads of sweeps/backend/embedded.yaml, what a run uses)")
    ap.add_argument("--max-new-tokens", type=int, default=None,
                    help="default: train.max_response_len of the default preset (what a run scores with)")
    ap.add_argument("--model-cfg", default=str(ROOT / "sweeps" / "model" / "tiny.yaml"))
    ap.add_argument("--model-dir", default=None,
                    help="a cached base-model directory (<cache>/base/<key>) to use instead of --model-cfg")
    ap.add_argument("--json", default=None, help="also write the per-prompt scores of every variant here")
    args = ap.parse_args()

    import torch
    from omegaconf import OmegaConf

    from core import curriculum as C
    from core.curriculum.entropy import _labels_with_rule
    from core.embedded.curriculum import prompt_items, training_set
    from core.embedded.generator import EmbeddedGenerator
    from core.embedded.model import ModelSpec, base_model
    from core.embedded.task import SynthGrader

    if args.threads is None:
        args.threads = int(OmegaConf.load(ROOT / "sweeps" / "backend" / "embedded.yaml").threads)
    torch.set_num_threads(args.threads)
    cur = OmegaConf.load(ROOT / "sweeps" / "curriculum" / "semantic_entropy.yaml")
    size = args.train_size or int(cur.train_size)
    if args.max_new_tokens is None:
        from core.embedded.spec import TrainSpec

        args.max_new_tokens = TrainSpec().max_response_len  # the default preset's (TrainSpec holds the defaults)
    t0 = time.perf_counter()
    if args.model_dir:
        from core.embedded.generator import load_model_file

        base, key = load_model_file(args.model_dir), Path(args.model_dir).name
    else:
        spec = ModelSpec.from_cfg(OmegaConf.to_container(OmegaConf.load(args.model_cfg)))
        base, key = base_model(spec, progress=False, log=lambda m: print(m, file=sys.stderr)), spec.key()
    print(f"base model {key} ready in {time.perf_counter() - t0:.1f} s (not counted)", flush=True)
    problems = training_set(size, int(cur.train_seed))
    items = prompt_items(problems)
    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        C.score_prompts(EmbeddedGenerator(model=base, batch_size=2048), items, SynthGrader(), m=args.m,
                        variant="count", seed=0, max_new_tokens=args.max_new_tokens,
                        batch_size=int(cur.batch_size), model_key="bench", cache_dir=tmp, progress=False)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        (samples_file,) = Path(tmp).glob("samples-*.jsonl")
        records = [json.loads(x) for x in samples_file.read_text().splitlines()[1:]]
    n_resp = size * args.m
    print(f"scored {size} prompts x M={args.m} ({n_resp} responses, <= {args.max_new_tokens} tokens) on "
          f"{args.threads} thread(s): {elapsed:.1f} s wall ({cpu:.1f} s CPU) = {n_resp / elapsed:.0f} responses/s; "
          f"target {TARGET_S:.0f} s -> ratio {elapsed / TARGET_S:.2f} ({'OK' if elapsed <= TARGET_S else 'SLOW'})")

    levels = [problems[r["id"]].level for r in records]
    err = [1 - sum(r["correct"]) / len(r["correct"]) for r in records]
    unp = sum(lab is None for r in records for lab in r["labels"]) / n_resp
    mean_len = sum(n for r in records for n in r["num_tokens"]) / n_resp
    print(f"base model: accuracy {1 - sum(err) / len(err):.3f}, unparseable {unp:.3f}, mean length {mean_len:.1f} tokens")
    print(f"ln M = {math.log(args.m):.3f} nats; the paper's Fig. 7a: most prompts in [1.0, 1.75]")
    out = {}
    edges = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25]
    for rule in C.UNPARSEABLE_RULES:
        for variant in C.VARIANTS:
            se = [C.score_samples(r, variant, rule).semantic_entropy for r in records]
            out[f"{variant}/{rule}"] = se
            hist = [sum(lo <= v < hi for v in se) for lo, hi in zip(edges, edges[1:])]
            srt = sorted(se)
            q = lambda p: srt[min(len(srt) - 1, int(p * len(srt)))]  # noqa: E731
            zero = sum(v < 1e-9 for v in se) / len(se)
            band = sum(1.0 <= v <= 1.75 for v in se) / len(se)
            print(f"  {variant:13s} {rule:9s} mean {sum(se) / len(se):.3f}  median {q(0.5):.3f}  "
                  f"p10 {q(0.1):.3f}  p90 {q(0.9):.3f}  zero {zero:.2f}  in[1,1.75] {band:.2f}  "
                  f"rho(level) {spearman(se, levels):+.2f}  rho(error) {spearman(se, err):+.2f}  hist{hist}")
    # how each variant's 2-stage split separates the task's difficulty levels, and how many exact ties it has
    for name, se in out.items():
        if not name.endswith("/singleton"):
            continue
        order = sorted(range(len(se)), key=lambda i: (se[i], C.id_sort_key(records[i]["id"])))
        half = len(order) // 2
        lv1 = sum(levels[i] for i in order[:half]) / half
        lv2 = sum(levels[i] for i in order[half:]) / (len(order) - half)
        distinct = len(set(se))
        tied = sum(c for c in _counts(se).values() if c > 1) / len(se)
        print(f"  {name:24s} 2 stages: mean level {lv1:.2f} | {lv2:.2f}   distinct values {distinct}, "
              f"prompts in a tie {tied:.2f}")
    # proxy for the paper's ~2k-token responses: every response as long as 2048 tokens at its own per-token
    # mean log-prob (summed log-prob = 2048 x mean); the spread between responses grows with length
    for L in (2048,):
        se = []
        for r in records:
            ll = [L * lp / n for lp, n in zip(r["logprob"], r["num_tokens"])]
            se.append(C.semantic_entropy(ll, _labels_with_rule(r["labels"], "singleton")))
        srt = sorted(se)
        print(f"  sum_logprob, {L}-token proxy: median {srt[len(srt) // 2]:.3f}, p90 {srt[int(0.9 * len(srt))]:.3f}, "
              f"below 0.05: {sum(v < 0.05 for v in se) / len(se):.2f}, in[1,1.75] {sum(1 <= v <= 1.75 for v in se) / len(se):.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"levels": levels, "error": err, "scores": out}))


if __name__ == "__main__":
    main()
