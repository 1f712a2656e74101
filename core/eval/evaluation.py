"""The evaluation loop: generate, grade, write ``samples/<benchmark>.jsonl``, summarise.

Both backends call :func:`evaluate` (the embedded trainer with its CPU generator, the verl path
and ``python -m core.eval`` with vLLM), so every run log holds the same per-sample records
(``docs/runlog.md``)::

    {"eval_step": 200, "problem_id": "60", "sample": 3, "correct": true, "length": 5121, "answer": "204"}

pass@k, avg@k and len@k (``core.metrics``) are computed from those records; the summary
:func:`evaluate` returns is a convenience (what it prints and what ``DONE`` may quote), never the
only copy. Summary values are fractions in [0, 1] (lengths in tokens).

May import: ``core.metrics``, ``core.runlog`` and the rest of ``core.eval``. No torch import here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from core.metrics import avg_at_k, check_k, len_at_k, mean_pass_at_k
from core.eval.benchmarks import grader_for, load_benchmark, prompt_builder
from core.eval.generation import Generation, Generator
from core.eval.grading import grade_all

__all__ = [
    "DEFAULT_K",
    "RECORD_KEYS",
    "evaluate",
    "read_samples",
    "resolve_ks",
    "summarize",
    "write_records",
]

DEFAULT_K = (1, 8, 16, 32)
"""SENT Table XI: k in {1, 8, 16, 32}."""

RECORD_KEYS = ("eval_step", "problem_id", "sample", "correct", "length", "answer")


def resolve_ks(k: Iterable[int], n: int) -> tuple[int, ...]:
    """The sorted, de-duplicated ks to report for ``n`` samples per problem.

    The default set :data:`DEFAULT_K` is cut to the ks <= n (so a quick ``n=4`` run reports
    pass@1 only); any other k > n is an error, as is k < 1.
    """
    ks = tuple(sorted({int(x) for x in k}))
    if not ks:
        raise ValueError("no k given")
    if ks == DEFAULT_K:
        ks = tuple(x for x in ks if x <= n)
    for x in ks:
        check_k(n, x)
    return ks


def evaluate(
    generator: Generator,
    benchmarks: list[str],
    *,
    run_dir: str | os.PathLike,
    eval_step: int,
    n: int,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    seed: int = 0,
    k: Sequence[int] = DEFAULT_K,
    limit: int | None = None,
    prompt_fn: Callable[[str], str] | None = None,
    progress: bool = True,
    grade_workers: int | None = None,
) -> dict[str, dict[str, float]]:
    """Evaluate ``generator`` on ``benchmarks`` and write ``run_dir/samples/<benchmark>.jsonl``.

    Args:
        generator: any :class:`core.eval.generation.Generator`.
        benchmarks: benchmark keys (``core.eval.benchmarks.benchmark_keys()``), evaluated in order.
        run_dir: the run directory; records go to ``run_dir/samples/<benchmark>.jsonl``. Records
            of the same ``eval_step`` already there (a resumed run) are replaced, not duplicated.
        eval_step: the optimizer step of the evaluated policy (0 = before training).
        n: samples per problem (the paper: 32).
        max_new_tokens, temperature, top_p, seed: sampling (the paper: 8000, 1.0, 1.0). No
            defaults here: the caller's settings (the CLI's flags, a run's config) are the one source.
        k: the ks to summarise (see :func:`resolve_ks`).
        limit: evaluate only the first ``limit`` problems of each benchmark.
        prompt_fn: question -> prompt text, for every benchmark; default: each benchmark's prompt
            (``core.eval.benchmarks.prompt_builder``: the paper's math prompt, or a code benchmark's own)
            with the generator's ``tokenizer`` attribute if it has one (chat template), else plain text.
        progress: show a tqdm bar over problems.
        grade_workers: grading subprocesses (math-verify); default 1 for up to 512 samples per
            benchmark, else ``min(8, cpu_count)``.

    Returns:
        ``{benchmark: {"pass@1": .., "avg@1": .., "len@1": .., "pass@8": .., ...}}`` for each
        reported k, as fractions (lengths in tokens).
    """
    if int(eval_step) != eval_step or eval_step < 0:
        raise ValueError(f"eval_step must be an integer >= 0, got {eval_step!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 (or None), got {limit}")
    ks = resolve_ks(k, n)
    # Load (and so validate) every benchmark before generating anything.
    problems_of = {key: load_benchmark(key)[:limit] for key in benchmarks}
    graders = {key: grader_for(key) for key in benchmarks}
    tokenizer = getattr(generator, "tokenizer", None)
    builders = {key: prompt_builder(key) for key in benchmarks}  # the math prompt, or a benchmark's own

    samples_dir = Path(run_dir) / "samples"
    samples_dir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, dict[str, float]] = {}

    from tqdm.auto import tqdm

    with tqdm(
        total=sum(len(p) for p in problems_of.values()),
        disable=not progress,
        desc=f"eval step {eval_step}",
        unit="problem",
    ) as bar:
        for key, problems in problems_of.items():
            bar.set_postfix_str(f"{key}: generating")
            if prompt_fn is not None:
                prompts = [prompt_fn(p.question) for p in problems]
            else:
                prompts = [builders[key](p.question, tokenizer) for p in problems]
            outputs = generator.generate(
                prompts, n, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed
            )
            _check_outputs(outputs, len(prompts), n, key)
            bar.set_postfix_str(f"{key}: grading")
            responses = [g.text for gens in outputs for g in gens]
            golds = [p.answer for p in problems for _ in range(n)]
            workers = grade_workers or (1 if len(responses) <= 512 else min(8, os.cpu_count() or 1))
            grades = grade_all(graders[key], responses, golds, workers)
            records = [
                {
                    "eval_step": int(eval_step),
                    "problem_id": problem.id,
                    "sample": j,
                    "correct": bool(grades[i * n + j].correct),
                    "length": int(gen.num_tokens),
                    "answer": grades[i * n + j].answer,
                }
                for i, (problem, gens) in enumerate(zip(problems, outputs))
                for j, gen in enumerate(gens)
            ]
            write_records(samples_dir / f"{key}.jsonl", records, eval_step)
            summary[key] = summarize(records, ks)
            bar.update(len(problems))
    return summary


def _check_outputs(outputs: list[list[Generation]], n_prompts: int, n: int, key: str) -> None:
    """Fail loudly on a generator that broke the interface (wrong counts or types)."""
    if len(outputs) != n_prompts:
        raise ValueError(f"{key}: the generator returned {len(outputs)} results for {n_prompts} prompts")
    for i, gens in enumerate(outputs):
        if len(gens) != n:
            raise ValueError(f"{key}: the generator returned {len(gens)} samples for prompt {i}, expected n={n}")
        for gen in gens:
            if not isinstance(gen.text, str) or int(gen.num_tokens) != gen.num_tokens or gen.num_tokens < 0:
                raise ValueError(f"{key}: bad generation for prompt {i}: {gen!r}")


def summarize(records: Sequence[dict], ks: Sequence[int]) -> dict[str, float]:
    """pass@k, avg@k and len@k over the records of one evaluation step of one benchmark."""
    steps = {r["eval_step"] for r in records}
    if len(steps) > 1:
        raise ValueError(f"records of several eval steps {sorted(steps)}: summarise one at a time")
    by_problem: dict[str, list[dict]] = {}
    for r in records:
        by_problem.setdefault(r["problem_id"], []).append(r)
    ns = [len(rs) for rs in by_problem.values()]
    cs = [sum(bool(r["correct"]) for r in rs) for rs in by_problem.values()]
    lengths = [[r["length"] for r in rs] for rs in by_problem.values()]
    out: dict[str, float] = {}
    for k in ks:
        out[f"pass@{k}"] = mean_pass_at_k(ns, cs, k)
        out[f"avg@{k}"] = avg_at_k(ns, cs, k)
        out[f"len@{k}"] = len_at_k(lengths, k)
    return out


def read_samples(path: str | os.PathLike) -> list[dict]:
    """The records of a ``samples/<benchmark>.jsonl`` file.

    A truncated last line (a crash mid-write) is skipped; a malformed line elsewhere raises.
    """
    return [record for _, record in _read_lines(Path(path))[0]]


def _read_lines(path: Path) -> tuple[list[tuple[bytes, dict]], bool]:
    """([(line, record)] of the complete lines, whether the file needs repair: a last line
    without its newline)."""
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    good: list[tuple[bytes, dict]] = []
    repair = False
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        is_last = i == len(lines) - 1  # no newline after it: it was being written
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError:
            if is_last:
                repair = True
                continue
            raise ValueError(f"{path}:{i + 1}: malformed JSON line") from None
        if is_last:  # complete JSON but no trailing newline; still repair so appends stay clean
            repair = True
        good.append((line, record))
    return good, repair


def write_records(path: str | os.PathLike, records: Sequence[dict], eval_step: int) -> None:
    """Append ``records`` to ``path``, one ``os.write`` per line (line-atomic with O_APPEND).

    Lines already in the file for the same ``eval_step`` (a resumed or repeated evaluation) are
    removed first, as is a partial last line; that rewrite goes through a temp file + rename.
    """
    path = Path(path)
    if path.exists():
        lines, repair = _read_lines(path)
        kept = [line for line, record in lines if record.get("eval_step") != eval_step]
        if repair or len(kept) != len(lines):
            from core.runlog import atomic_write

            atomic_write(path, b"".join(line + b"\n" for line in kept))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for record in records:
            data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
            while data:  # a regular file takes it in one write; loop only for safety
                written = os.write(fd, data)
                data = data[written:]
    finally:
        os.close(fd)
