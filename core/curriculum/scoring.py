"""Scoring the training prompts: sample M responses per prompt through a generator, grade and cluster
them, and cache both the samples and the scores on disk.

The scores depend on the model, the data, M, the seed and the generation settings; the sampled answers,
cluster labels and log-probs are cached (:func:`cache_root`) so every variant and unparseable rule is then
recomputed without generating again (:func:`core.curriculum.entropy.score_samples`), and the final scores
are cached per full key. Cache files carry a header with that key and are written atomically
(``core.runlog.atomic_write``); a file for another key, truncated or corrupt is a cache miss.

Imports ``core.curriculum.base`` and ``.entropy``; ``core.eval.grading`` (grading), ``core.runlog``,
``tqdm`` and, only to fingerprint a state dict, ``torch``. The generator is passed in (any
:class:`core.eval.generation.Generator`): no training backend is imported here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from core.curriculum.base import CacheMissingError, CurriculumError, PromptItem, SEScore, _digest
from core.curriculum.entropy import (DEFAULT_M, DEFAULT_UNPARSEABLE, DEFAULT_VARIANT, SCORE_VERSION, _check_m,
                                     _check_unparseable, _check_variant, _se_problem, assign_clusters,
                                     grader_equivalence, score_samples)
from core.runlog import atomic_write

__all__ = ["SAMPLES_VERSION", "cache_root", "data_key", "model_key_of_state_dict", "model_key_of_path",
           "score_prompts"]

SAMPLES_VERSION = 1
"""Bumped whenever what is sampled/cached per prompt changes (part of the cache key)."""

def cache_root() -> Path:
    """``$SENT_HARNESS_CACHE`` or ``~/.cache/sent-harness`` (shared with the embedded base-model cache)."""
    return Path(os.environ.get("SENT_HARNESS_CACHE") or Path.home() / ".cache" / "sent-harness")


def data_key(items: Sequence[PromptItem]) -> str:
    """A hash of the prompts in order (id, prompt text, gold)."""
    h = hashlib.sha256()
    for it in items:
        h.update(json.dumps([it.id, it.prompt, it.gold]).encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def model_key_of_state_dict(state_dict: Mapping[str, Any]) -> str:
    """A hash of a torch state dict's names, shapes, dtypes and bytes (the embedded model's weights)."""
    import torch

    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def model_key_of_path(path: str | os.PathLike) -> str:
    """A cheap fingerprint of a HF model directory: every file's relative name and size, the full bytes
    of the small (< 1 MiB) files, the first and last MiB of the large ones (weights)."""
    root = Path(path)
    if not root.exists():
        raise CurriculumError(f"model path {root} does not exist; cannot fingerprint it for the score cache "
                              f"(pass model_key=... explicitly for a hub id)")
    h = hashlib.sha256()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for p in files:
        size = p.stat().st_size
        h.update(f"{p.relative_to(root) if p != root else p.name}:{size}".encode())
        with open(p, "rb") as f:
            if size < (1 << 20):
                h.update(f.read())
            else:
                h.update(f.read(1 << 20))
                f.seek(size - (1 << 20))
                h.update(f.read(1 << 20))
    return h.hexdigest()[:16]


def _write_jsonl_atomic(path: Path, header: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> None:
    """A cache file: the header (with the row count) on the first line, then one JSON row per line."""
    atomic_write(path, "".join(json.dumps(r) + "\n" for r in [{**header, "count": len(rows)}, *rows]))


def _read_cache(path: Path, header: Mapping[str, Any], ids: Sequence[str]) -> list[dict]:
    """The rows of a cache file written for ``header`` and ``ids``; raises CacheMissingError when absent/corrupt."""
    if not path.exists():
        raise CacheMissingError(f"semantic-entropy cache file {path} does not exist")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        head = json.loads(lines[0])
        rows = [json.loads(x) for x in lines[1:]]
    except (OSError, ValueError, IndexError) as exc:
        raise CacheMissingError(f"semantic-entropy cache file {path} is unreadable ({type(exc).__name__}: {exc})") from None
    expect = {**header, "count": len(ids)}
    if head != expect:
        raise CacheMissingError(f"semantic-entropy cache file {path} was written for another configuration "
                                f"or is truncated (header {head} != expected {expect})")
    for i, r in enumerate(rows, 2):
        if "semantic_entropy" in r and (why := _se_problem(r.get("semantic_entropy"), r.get("m"))):
            raise CacheMissingError(f"semantic-entropy cache file {path}:{i}: {why} (corrupt)")
    got = [str(r.get("id")) for r in rows]
    if got != list(ids):
        raise CacheMissingError(f"semantic-entropy cache file {path} holds {len(rows)} rows that do not match the "
                                f"{len(ids)} prompts (truncated or corrupt)")
    return rows


def _validate_items(items: Sequence[PromptItem]) -> None:
    if not items:
        raise CurriculumError("no training prompts to score")
    seen: set[str] = set()
    for it in items:
        if not isinstance(it, PromptItem):
            raise CurriculumError(f"expected PromptItem(id, prompt, gold), got {type(it).__name__}")
        if it.id in seen:
            raise CurriculumError(f"duplicate prompt id {it.id!r}; ids must be unique (they key the curriculum)")
        seen.add(it.id)


def score_prompts(generator, prompts: Sequence[PromptItem], grader, *, m: int = DEFAULT_M,
                  variant: str = DEFAULT_VARIANT, unparseable: str = DEFAULT_UNPARSEABLE, seed: int = 0,
                  max_new_tokens: int, temperature: float = 1.0, top_p: float = 1.0, batch_size: int = 64,
                  model_key: str | None = None, cache_dir: str | os.PathLike | None = None,
                  require_cache: bool = False, progress: bool = True, grade_workers: int = 1) -> list[SEScore]:
    """Semantic entropy of every prompt (in the order given), sampling ``m`` responses each.

    Args:
        generator: a :class:`core.eval.generation.Generator` (the embedded CPU one or vLLM with log-probs).
        prompts: the training prompts (unique ids).
        grader: a :class:`core.eval.grading.Grader` (``math_verify`` on real data, ``synth`` on the embedded task).
        m, variant, unparseable: see the module docstring.
        seed: sampling seed; batch b is generated with ``seed + <index of its first prompt>``.
        max_new_tokens, temperature, top_p: generation settings (the paper: temperature 1.0, top-p 1.0).
        batch_size: prompts per ``generate`` call (``m`` responses each).
        model_key: a fingerprint of the policy (:func:`model_key_of_state_dict`, :func:`model_key_of_path`);
            None disables the cache.
        cache_dir: cache folder (default :func:`cache_root` / ``semantic_entropy``).
        require_cache: only read the cache; a missing or corrupt file raises :class:`CacheMissingError`.
        progress: show a tqdm bar.
        grade_workers: grading subprocesses for graders with ``grade_many(..., workers=)`` (math-verify).
    """
    _check_m(m)
    _check_variant(variant)
    _check_unparseable(unparseable)
    _validate_items(prompts)
    if int(batch_size) < 1:
        raise CurriculumError(f"batch_size={batch_size} must be >= 1")
    if require_cache and model_key is None:
        raise CurriculumError("require_cache=True needs a model_key (the cache is keyed by the model)")
    ids = [p.id for p in prompts]
    sample_header = {"kind": "sent-harness semantic-entropy samples", "version": SAMPLES_VERSION,
                     "model": model_key, "data": data_key(prompts), "m": int(m), "seed": int(seed),
                     "max_new_tokens": int(max_new_tokens), "temperature": float(temperature), "top_p": float(top_p),
                     "batch_size": int(batch_size), "grader": getattr(grader, "name", type(grader).__name__)}
    score_header = {**sample_header, "kind": "sent-harness semantic-entropy scores", "score_version": SCORE_VERSION,
                    "variant": variant, "unparseable": unparseable}
    folder = Path(cache_dir) if cache_dir is not None else cache_root() / "semantic_entropy"
    samples_path = folder / f"samples-{_digest(sample_header)[:20]}.jsonl"
    scores_path = folder / f"scores-{_digest(score_header)[:20]}.jsonl"
    use_cache = model_key is not None

    if use_cache:
        try:
            rows = _read_cache(scores_path, score_header, ids)
            return [SEScore(**{f.name: r[f.name] for f in dataclasses.fields(SEScore)}) for r in rows]
        except CacheMissingError as exc:
            if require_cache:
                raise CacheMissingError(
                    f"{exc}. The scores for this model/data/M/variant/unparseable/seed were never computed here: "
                    f"run once without require_cache (it samples M responses per prompt) or point "
                    f"curriculum.scores_path at a semantic_entropy.jsonl") from None
            if scores_path.exists():
                warnings.warn(f"{exc}; recomputing the scores", stacklevel=2)
    records = None
    if use_cache and samples_path.exists():
        try:
            records = _read_cache(samples_path, sample_header, ids)
        except CacheMissingError as exc:
            warnings.warn(f"{exc}; sampling again", stacklevel=2)
        if records is not None and variant != "count" and any(lp is None for r in records for lp in r["logprob"]):
            warnings.warn(f"the cached samples {samples_path} have no log-probabilities (sampled for variant=count); "
                          f"sampling again with log-probabilities for variant={variant}", stacklevel=2)
            records = None
    if records is None:
        records = _sample_records(generator, prompts, grader, m=m, seed=seed, max_new_tokens=max_new_tokens,
                                  temperature=temperature, top_p=top_p, batch_size=batch_size, progress=progress,
                                  grade_workers=grade_workers, need_logprob=variant != "count")
        if use_cache:
            _write_jsonl_atomic(samples_path, sample_header, records)
    scores = [score_samples(r, variant, unparseable) for r in records]
    if use_cache:
        _write_jsonl_atomic(scores_path, score_header, [dataclasses.asdict(s) for s in scores])
    return scores


def _sample_records(generator, prompts: Sequence[PromptItem], grader, *, m: int, seed: int, max_new_tokens: int,
                    temperature: float, top_p: float, batch_size: int, progress: bool,
                    grade_workers: int = 1, need_logprob: bool = False) -> list[dict]:
    """Generate, grade and cluster: one record per prompt with the rule-independent cluster labels."""
    from tqdm.auto import tqdm

    from core.eval.grading import grade_all

    equivalent = grader_equivalence(grader)
    records: list[dict] = []
    bar = tqdm(total=len(prompts), desc=f"semantic entropy (M={m})", unit="prompt", disable=not progress)
    try:
        for start in range(0, len(prompts), batch_size):
            batch = list(prompts[start:start + batch_size])
            gens = generator.generate([p.prompt for p in batch], m, max_new_tokens=max_new_tokens,
                                      temperature=temperature, top_p=top_p, seed=seed + start)
            if len(gens) != len(batch) or any(len(g) != m for g in gens):
                raise RuntimeError(f"generator returned {[len(g) for g in gens]} samples for {len(batch)} prompts; "
                                   f"expected {m} each")
            if need_logprob and any(g.logprob is None for gs in gens for g in gs):  # fail on the first batch
                raise CurriculumError("the generator returns no log-probabilities, which the likelihood variants "
                                      "need; build it with log-probs on (VLLMGenerator(..., logprobs=True)) or use "
                                      "variant='count'")
            grades = grade_all(grader, [g.text for gs in gens for g in gs], [p.gold for p in batch for _ in range(m)],
                                grade_workers)
            for i, (p, gs) in enumerate(zip(batch, gens)):
                gr = grades[i * m:(i + 1) * m]
                answers = [g.answer for g in gr]
                correct = [bool(g.correct) for g in gr]
                # rule-independent labels: unparseable responses stay None (the rule is applied when scoring)
                labels = assign_clusters(answers, correct, equivalent, unparseable="singleton")
                labels = [None if (a is None and not c) else lab for a, c, lab in zip(answers, correct, labels)]
                records.append({"id": p.id, "labels": labels, "correct": correct, "answers": answers,
                                "logprob": [g.logprob for g in gs], "num_tokens": [int(g.num_tokens) for g in gs]})
            bar.update(len(batch))
    finally:
        bar.close()
    return records
