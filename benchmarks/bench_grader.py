"""Grading throughput of the math-verify grader, cold and warm cache.

    python benchmarks/bench_grader.py                  # all six benchmarks, in-process
    python benchmarks/bench_grader.py --workers 4      # plus a cold pass on a 4-process pool
    python benchmarks/bench_grader.py --limit 50       # first 50 problems of each benchmark
    python benchmarks/bench_grader.py --neighbours     # also: no two neighbouring golds verify

Responses are built from the real golds, four per problem, shaped like model output: the gold in
a final box after some reasoning, a wrong answer in a box, a response cut off with no box, and a
self-correcting one with two boxes (wrong, then the gold; graded on the last). "Cold" is a new
grader with empty caches; "warm" grades the same responses again (every pair cached). Prints
answers per second; no timing is asserted anywhere (see the README: ratios, never timed tests).
"""

from __future__ import annotations

import argparse
import time

from core.eval.benchmarks import PAPER_BENCHMARKS, load_benchmark
from core.eval.grading import MathVerifyGrader, extract_answer, normalize_answer

REASONING = "<think>\nLet me set up the problem carefully and compute step by step.\n</think>\n"


def wrong_answer(gold: str) -> str:
    """A surely wrong answer in a realistic form: gold + 1 for integers, 1.5 * gold for other
    numbers, else a word."""
    try:
        value = float(gold)
    except ValueError:
        return "\\text{none}"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value) + 1)
    return repr(1.5 * value) if value else "1"


def responses_for(keys: list[str], limit: int | None) -> tuple[list[str], list[str], list[bool]]:
    responses, golds, expected = [], [], []
    for key in keys:
        problems = load_benchmark(key)[:limit]
        for p in problems:
            wrong = wrong_answer(p.answer)
            responses += [
                f"{REASONING}So the final answer is $\\boxed{{{p.answer}}}$.",
                f"{REASONING}Therefore the answer is $\\boxed{{{wrong}}}$.",
                f"{REASONING}Let me try another approach: substituting, we get",
                f"{REASONING}I get $\\boxed{{{wrong}}}$. Wait, that is wrong; rechecking gives $\\boxed{{{p.answer}}}$.",
            ]
            golds += [p.answer] * 4
            expected += [True, False, False, True]
    return responses, golds, expected


def timed(grader: MathVerifyGrader, responses, golds, workers: int):
    start = time.perf_counter()
    grades = grader.grade_many(responses, golds, workers=workers)
    return grades, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", default=",".join(PAPER_BENCHMARKS))
    parser.add_argument("--limit", type=int, default=None, help="first N problems of each benchmark")
    parser.add_argument("--workers", type=int, default=0, help="also time a cold pass on a pool of N worker processes")
    parser.add_argument("--neighbours", action="store_true", help="check that no two neighbouring golds verify")
    args = parser.parse_args()
    keys = [k for k in args.benchmarks.split(",") if k]

    responses, golds, expected = responses_for(keys, args.limit)
    answers = [extract_answer(r) for r in responses]
    distinct = len({(normalize_answer(a), normalize_answer(g)) for a, g in zip(answers, golds) if a is not None})
    print(f"{len(responses)} responses ({len(responses) // 4} problems x 4) over {', '.join(keys)}")

    rows = []
    grader = MathVerifyGrader()
    grades, cold = timed(grader, responses, golds, workers=1)
    mismatches = sum(g.correct != e for g, e in zip(grades, expected))
    rows.append(("cold, in-process", cold))
    _, warm = timed(grader, responses, golds, workers=1)
    rows.append(("warm (all cached)", warm))
    if args.workers > 1:
        pooled = MathVerifyGrader()
        timed(pooled, ["\\boxed{1}"] * 2, ["1", "2"], workers=args.workers)  # start the workers
        pooled.cache_clear()  # the workers' own caches hold only the two warm-up pairs
        _, cold_pool = timed(pooled, responses, golds, workers=args.workers)
        rows.append((f"cold, {args.workers} worker processes", cold_pool))
        pooled.close()

    print(f"distinct (answer, gold) pairs: {distinct} of {len(responses)}; verdicts unlike expected: {mismatches}")
    print(f"{'pass':<32} {'seconds':>9} {'answers/s':>11}")
    for name, seconds in rows:
        print(f"{name:<32} {seconds:9.2f} {len(responses) / seconds:11.0f}")
    print(f"warm/cold speed-up: {cold / warm:.0f}x")

    if args.neighbours:
        pairs = []
        for key in keys:
            ans = [p.answer for p in load_benchmark(key)[: args.limit]]
            pairs += [(key, a, b) for a, b in zip(ans, ans[1:])]
        checker = MathVerifyGrader()
        start = time.perf_counter()
        verdicts = checker.grade_many([f"\\boxed{{{b}}}" for _, _, b in pairs], [a for _, a, _ in pairs],
                                      workers=max(1, args.workers))
        equal = [(k, a, b) for (k, a, b), v in zip(pairs, verdicts) if v.correct]
        print(f"\nneighbouring golds: {len(pairs)} pairs in {time.perf_counter() - start:.1f} s; verify as equal:")
        for key, a, b in equal:
            print(f"  {key}: {a!r} ~ {b!r}")
        checker.close()


if __name__ == "__main__":
    main()
