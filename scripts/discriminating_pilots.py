"""The numbers behind docs/discriminating.md: per GRPO pilot run, the selection rule's five criteria,
and, over several seeds of one configuration, the seed spread and the difference 3 vs 3 seeds resolve.

    python scripts/discriminating_pilots.py RUN_DIR [RUN_DIR ...]            # one block per run
    python scripts/discriminating_pilots.py --spread RUN_DIR RUN_DIR [...]   # seeds of one configuration

Reads only a run folder's ``train.jsonl`` (``train/rollout_entropy``) and ``samples/<benchmark>.jsonl``
(unbiased pass@k, the estimator ``python -m analysis`` uses); wall time is not in the run folder (the
docs quote the launcher's). Imports the standard library and, for ``--spread``, scipy.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from math import comb, sqrt
from pathlib import Path

EASY = [f"synth_{i}" for i in range(1, 7)]
HARD = ["synth_7", "synth_8"]
K = 32


def pass_at(n: int, c: int, k: int) -> float:
    return 1.0 if n - c < k else 1 - comb(n - c, k) / comb(n, k)


def summarize(run: Path) -> dict:
    """Entropy (mean of the first 5 / last 10 steps) and pass@1, pass@32 per benchmark at step 0 and the end."""
    rows = [json.loads(line) for line in (run / "train.jsonl").read_text().splitlines() if line.strip()]
    ent = [r["train/rollout_entropy"] for r in rows if "train/rollout_entropy" in r]
    last = max(r["step"] for r in rows if "train/rollout_entropy" in r)
    out = {"last": last, "h_start": statistics.mean(ent[:5]), "h_end": statistics.mean(ent[-10:]), "bench": {}}
    for f in sorted((run / "samples").glob("*.jsonl")):
        counts = defaultdict(lambda: [0, 0])  # (eval_step, problem) -> [samples, correct]
        for line in f.read_text().splitlines():
            s = json.loads(line)
            if s["eval_step"] in (0, last):
                c = counts[(s["eval_step"], s["problem_id"])]
                c[0] += 1
                c[1] += bool(s["correct"])
        out["bench"][f.stem] = {step: tuple(statistics.mean(pass_at(n, c, k) for (st, _), (n, c) in counts.items()
                                                            if st == step) for k in (1, K)) for step in (0, last)}
    return out


def criteria(s: dict) -> dict[str, tuple[bool, float]]:
    b, last = s["bench"], s["last"]
    ratio = s["h_end"] / s["h_start"]
    d1 = statistics.mean(b[x][last][0] - b[x][0][0] for x in EASY)
    dk = statistics.mean(b[x][last][1] - b[x][0][1] for x in HARD)
    top = max(b[x][last][1] for x in HARD)
    return {"C1 entropy end/start <= 0.6": (ratio <= 0.6, ratio),
            "C2 mean pass@1 synth_1..6 rise >= 0.05": (d1 >= 0.05, d1),
            f"C3 mean pass@{K} synth_7,8 change <= +0.03": (dk <= 0.03, dk),
            f"C4 max pass@{K} synth_7,8 at the end < 0.90": (top < 0.9, top)}


def report(run: Path) -> None:
    s = summarize(run)
    print(f"== {run}\nentropy: first 5 steps {s['h_start']:.4f}, last 10 steps {s['h_end']:.4f}")
    print(f"benchmark  pass@1 step 0 -> {s['last']}   pass@{K} step 0 -> {s['last']}")
    for name, v in s["bench"].items():
        print(f"{name}    {v[0][0]:.3f} -> {v[s['last']][0]:.3f}          {v[0][1]:.3f} -> {v[s['last']][1]:.3f}")
    for name, (ok, value) in criteria(s).items():
        print(f"{name}: {'yes' if ok else 'NO'} ({value:+.3f})")


def spread(runs: list[Path]) -> None:
    """Seed-level mean and sd of the end-of-run metrics, and the difference a two-sided Welch test
    (alpha 0.05, 80% power, 3 seeds per arm, equal sd) resolves: about 3.07 sd."""
    from scipy import optimize, stats

    n, df = 3, 4
    tc = stats.t.ppf(0.975, df)

    def power(d: float) -> float:
        nc = d / sqrt(2 / n)
        return 1 - stats.nct.cdf(tc, df, nc) + stats.nct.cdf(-tc, df, nc)

    k = optimize.brentq(lambda d: power(d) - 0.8, 0.1, 20)
    ss = [summarize(r) for r in runs]
    metrics = {"entropy (last 10 steps)": [s["h_end"] for s in ss],
               "mean pass@1 synth_1..6": [statistics.mean(s["bench"][x][s["last"]][0] for x in EASY) for s in ss]}
    for x in HARD:
        metrics[f"pass@1 {x}"] = [s["bench"][x][s["last"]][0] for s in ss]
        metrics[f"pass@{K} {x}"] = [s["bench"][x][s["last"]][1] for s in ss]
    print(f"resolved at 80% power with 3 seeds per arm: {k:.2f} sd")
    for name, v in metrics.items():
        sd = statistics.stdev(v)
        print(f"{name}: seeds {' '.join(f'{x:.3f}' for x in v)}; mean {statistics.mean(v):.3f}, sd {sd:.3f}, "
              f"resolved difference {k * sd:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--spread", action="store_true", help="the runs are seeds of one configuration")
    args = ap.parse_args()
    if args.spread:
        spread(args.runs)
    else:
        for run in args.runs:
            report(run)


if __name__ == "__main__":
    main()
