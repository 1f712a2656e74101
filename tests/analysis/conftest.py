"""Hand-written run directories with known answers."""

from __future__ import annotations

from pathlib import Path

from tests.analysis.synthetic import SYNTH_BENCHMARKS, samples_from_counts, write_run

N = 32  # samples per problem: admits the paper's K = 8, 16, 32


def one_problem_runs(root: Path, method: str, seed: int, correct: dict[int, int], *, model: str = "tiny",
                     n: int = N, length: int = 100, benches=SYNTH_BENCHMARKS, sweep: str = "s", **kw) -> Path:
    """A run whose every benchmark has one problem with ``correct[eval_step]`` correct samples of n.

    With c = 1 correct sample, pass@k = k / n exactly (the one correct sample is in k of the n slots).
    """
    samples = {b: samples_from_counts({step: [c] for step, c in correct.items()}, n, length=length) for b in benches}
    return write_run(root / sweep / f"method={method},seed={seed}", method=method, seed=seed, model=model,
                     samples=samples, n=n, **kw)


def train_lines(steps: int, entropy0: float = 1.0, slope: float = -0.01, stage_at: int | None = None) -> list[dict]:
    return [{"step": t, "stage": 1 if stage_at is None or t < stage_at else 2, "epoch": 0,
             "train/entropy": entropy0 + slope * t, "train/reward": 0.5} for t in range(1, steps + 1)]

