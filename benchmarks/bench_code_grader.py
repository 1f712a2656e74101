"""Throughput of the code grader (sandboxed program runs) with N parallel sandboxes.

    python benchmarks/bench_code_grader.py                    # HumanEval, workers 1 and all CPUs
    python benchmarks/bench_code_grader.py --workers 1,2,4    # any list of worker counts
    python benchmarks/bench_code_grader.py --samples 4        # 4 responses per problem (x 164)
    python benchmarks/bench_code_grader.py --slow 0.1         # + a share of responses that time out

Responses are HumanEval's canonical solutions (prompt + body, in a fenced block) and, for every
other sample of a problem, a wrong one (the body replaced by ``return None``), all distinct so the
verdict cache does not hide any run; ``--slow`` turns that share of them into infinite loops (they
cost the per-test limit, 1 s here). Each worker count grades the same batch with a cold grader and
prints problems (responses) per second and the speed-up over one worker, side by side, and the
machine's load (the ratio is what to read on a shared machine). No timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time

from core.eval.benchmarks import load_benchmark
from core.eval.code_benchmarks import HUMANEVAL_FILE
from core.eval.code_grading import CodeGrader, SandboxLimits, usable_cpus


def batch(samples: int, slow: float) -> tuple[list[str], list[str], list[bool]]:
    with gzip.open(HUMANEVAL_FILE, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    golds = {p.id: p.answer for p in load_benchmark("humaneval")}
    responses, gold_list, expected = [], [], []
    every = round(1 / slow) if slow > 0 else 0
    for i, row in enumerate(rows):
        for j in range(samples):
            k = i * samples + j
            if every and k % every == 0:
                body, ok = f"    while True:\n        pass  # {k}\n", False
            elif j % 2 == 0:
                body, ok = row["canonical_solution"] + f"\n# sample {j}\n", True
            else:
                body, ok = f"    return None  # sample {j}\n", False
            responses.append(f"```python\n{row['prompt']}{body}```")
            gold_list.append(golds[row["task_id"]])
            expected.append(ok)
    return responses, gold_list, expected


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", default=f"1,{usable_cpus()}", help="comma-separated worker counts")
    ap.add_argument("--samples", type=int, default=1, help="responses per problem")
    ap.add_argument("--slow", type=float, default=0.0, help="share of responses that loop forever")
    args = ap.parse_args()
    responses, golds, expected = batch(args.samples, args.slow)
    limits = SandboxLimits(per_test_s=1.0, memory_mb=1024)
    print(f"{len(responses)} responses ({len(golds) // args.samples} HumanEval problems x {args.samples}); "
          f"CPUs usable: {usable_cpus()}; load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| workers | seconds | responses/s | speed-up vs 1st row | verdicts as expected |")
    print("|--:|--:|--:|--:|:--|")
    base = None
    for w in sorted({int(x) for x in args.workers.split(",")}):
        grader = CodeGrader(limits, workers=w)
        t0 = time.perf_counter()
        grades = grader.grade_many(responses, golds)
        dt = time.perf_counter() - t0
        ok = [g.correct for g in grades] == expected
        base = base or dt
        print(f"| {w} | {dt:.1f} | {len(responses) / dt:.1f} | {base / dt:.2f}x | {'yes' if ok else 'NO'} |", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
