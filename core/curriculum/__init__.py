"""The semantic-entropy curriculum of SENT (arXiv 2512.04359, §IV-A Eq. 6-10, Algorithm 1 lines 3-8).

Before training, every training prompt q is scored with the *initial* policy::

    o^1..o^M ~ pi_theta(.|q)                   (Eq. 6)  M = 8, temperature 1.0, top-p 1.0
    C_1..C_K = clusters of final-answer equivalence (grader-decided)
    P(C_k|q) = sum_{o in C_k} P(o|q)           (Eq. 7)  computed as a log-sum-exp
    P^(C_k|q) = P(C_k|q) / sum_j P(C_j|q)      (Eq. 9)
    H_SE(q) = -sum_k P^(C_k|q) ln P^(C_k|q)    (Eq. 8)  natural log: nats, max ln M = 2.08 for M = 8

then the training set is sorted by ascending H_SE (Eq. 10; ties by prompt id) and cut into N stages
that are trained one after the other. ``docs/curriculum.md`` states every choice made here.

Three choices the paper leaves open are parameters, recorded in ``semantic_entropy.jsonl``:

``variant`` -- what "P(o|q)" is (:data:`VARIANTS`):
    ``sum_logprob``   ln P(o|q) = summed token log-probs (the paper taken literally; with long
                      responses the normalised cluster distribution is nearly one-hot, SE ~ 0)
    ``mean_logprob``  ln P(o|q) := mean token log-prob (length-normalised; the default of
                      Farquhar et al. 2024, jlko/semantic_uncertainty ``sum_normalized``)
    ``count``         P(C) = |C| / M (discrete SE; no likelihoods)
``unparseable`` -- responses with no extractable final answer (:data:`UNPARSEABLE_RULES`):
    ``singleton``     each is its own cluster (a prompt the model cannot finish looks hard)
    ``shared``        all of them form one "none" cluster
clustering -- greedy and transitive-safe: the gold answer seeds cluster 0, so every response the
    grader marks correct (the reward's own equivalence) joins it; each other answer is compared with
    one representative (the first member) per existing cluster, in creation order, and joins the
    first equivalent one or opens a new cluster. Two answers are equivalent when their normalised
    strings are equal or the grader accepts each as the other's gold (both directions).

The scores depend on the model, the data, M, the seed and the generation settings; the sampled
answers and log-probs are cached (:func:`cache_root`) so every variant and unparseable rule is then
recomputed without generating again, and the final scores are cached per full key.

Public API (what the trainers call): :func:`score_prompts`, :func:`order_and_split`,
:func:`write_semantic_entropy_jsonl`, :class:`CurriculumPlan`, :func:`prepare_curriculum`,
:func:`resolve_curriculum`. No torch import here (the embedded generator brings its own).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "VARIANTS", "UNPARSEABLE_RULES", "DEFAULT_VARIANT", "DEFAULT_UNPARSEABLE", "DEFAULT_M", "SCORE_VERSION",
    "PromptItem", "SEScore", "CurriculumError", "CacheMissingError",
    "response_logliks", "normalized_cluster_logprobs", "entropy_from_logprobs", "semantic_entropy",
    "assign_clusters", "grader_equivalence", "score_samples", "score_prompts",
    "id_sort_key", "order_and_split", "random_split", "SCORED_CURRICULA",
    "stage_sizes", "write_semantic_entropy_jsonl", "read_semantic_entropy_jsonl",
    "CurriculumPlan", "prepare_curriculum", "resolve_curriculum", "cache_root", "data_key", "model_key_of_path",
    "model_key_of_state_dict",
]

VARIANTS = ("sum_logprob", "mean_logprob", "count")
UNPARSEABLE_RULES = ("singleton", "shared")
DEFAULT_VARIANT = "mean_logprob"
"""Chosen by the evidence in ``docs/curriculum.md`` (``benchmarks/bench_curriculum.py`` on the embedded
base model): ``sum_logprob`` collapses towards 0 as responses grow (91% of prompts below 0.05 nats at a
2048-token proxy), unlike the paper's Fig. 7a; ``mean_logprob`` and ``count`` both put about half the
prompts in Fig. 7a's [1.0, 1.75] band, and ``mean_logprob`` orders by difficulty at least as well with no
ties (``count`` takes 17 distinct values, so 99% of prompts tie and the id decides their order)."""
DEFAULT_UNPARSEABLE = "singleton"
DEFAULT_M = 8
SCORE_VERSION = 1
"""Bumped whenever the numbers this module computes from the same samples change (part of the cache key)."""
SAMPLES_VERSION = 1
"""Bumped whenever what is sampled/cached per prompt changes (part of the cache key)."""


class CurriculumError(ValueError):
    """Bad curriculum input or configuration (the message names the problem and the fix)."""


class CacheMissingError(FileNotFoundError):
    """A score/sample cache file that was required is missing or unreadable."""


@dataclass(frozen=True)
class PromptItem:
    """One training prompt: ``prompt`` is what the generator is conditioned on, ``gold`` the reference answer."""

    id: str
    prompt: str
    gold: str


@dataclass(frozen=True)
class SEScore:
    """The semantic entropy of one prompt (one ``semantic_entropy.jsonl`` line, plus diagnostics)."""

    id: str
    semantic_entropy: float   # nats
    variant: str
    num_clusters: int         # K, clusters with at least one response
    m: int                    # responses sampled
    num_correct: int          # responses in the gold cluster
    num_unparseable: int      # responses with no extractable answer
    unparseable: str          # the rule used for those


# ---------------------------------------------------------------------------------------------
# Numerics (pure Python: M is small; every sum runs over sorted values, so the result does not
# depend on the order of the responses, and equal inputs give bit-identical entropies -> exact ties)
# ---------------------------------------------------------------------------------------------

def _logsumexp(xs: Sequence[float]) -> float:
    xs = sorted(xs)
    hi = xs[-1]
    if hi == -math.inf:
        return -math.inf
    return hi + math.log(math.fsum(math.exp(x - hi) for x in xs))


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise CurriculumError(f"unknown semantic-entropy variant {variant!r}; choose one of {', '.join(VARIANTS)}")


def _check_unparseable(rule: str) -> None:
    if rule not in UNPARSEABLE_RULES:
        raise CurriculumError(f"unknown unparseable rule {rule!r}; choose one of {', '.join(UNPARSEABLE_RULES)}")


def response_logliks(variant: str, logprobs: Sequence[float | None], num_tokens: Sequence[int]) -> list[float]:
    """Per-response ln P(o|q) under ``variant`` (``count``: 0 for every response, i.e. equal weights)."""
    _check_variant(variant)
    if len(logprobs) != len(num_tokens):
        raise CurriculumError(f"{len(logprobs)} log-probs but {len(num_tokens)} lengths")
    if variant == "count":
        return [0.0] * len(logprobs)
    out = []
    for i, (lp, n) in enumerate(zip(logprobs, num_tokens)):
        if lp is None:
            raise CurriculumError(
                f"variant={variant!r} needs each response's log-probability, but response {i} has none; build the "
                f"generator with log-probs on (VLLMGenerator(..., logprobs=True)) or use variant='count'")
        lp = float(lp)
        if math.isnan(lp) or lp > 1e-4:
            raise CurriculumError(f"response {i} has log-probability {lp}; a sequence log-probability must be <= 0")
        if variant == "mean_logprob":
            if int(n) < 1:
                raise CurriculumError(f"response {i} has {n} tokens; mean_logprob needs at least one generated token")
            lp = lp / int(n)
        out.append(min(lp, 0.0))
    return out


def normalized_cluster_logprobs(logliks: Sequence[float], clusters: Sequence[int]) -> list[float]:
    """ln P^(C_k|q) for k = 0..K-1 (Eq. 7 then Eq. 9), from per-response ln P(o|q) and cluster labels 0..K-1."""
    if len(logliks) != len(clusters) or not logliks:
        raise CurriculumError(f"need one cluster label per response (got {len(logliks)} log-likelihoods, "
                              f"{len(clusters)} labels)")
    k = max(clusters) + 1
    members: list[list[float]] = [[] for _ in range(k)]
    for ll, c in zip(logliks, clusters):
        members[c].append(float(ll))
    if any(not m for m in members):
        raise CurriculumError(f"cluster labels must be 0..K-1 with no gaps, got {sorted(set(clusters))}")
    cluster_ll = [_logsumexp(m) for m in members]                # ln P(C_k|q), Eq. 7
    total = _logsumexp(cluster_ll)                                 # ln sum_j P(C_j|q)
    if total == -math.inf:
        raise CurriculumError("every response has probability 0 (log-prob -inf); the cluster distribution is undefined")
    return [c - total for c in cluster_ll]                         # Eq. 9


def entropy_from_logprobs(logp: Sequence[float]) -> float:
    """-sum p ln p over a normalised distribution given by its log-probabilities (nats; 0 * ln 0 = 0)."""
    terms = sorted(-math.exp(lp) * lp for lp in logp if lp > -math.inf)
    return max(0.0, math.fsum(terms))


def semantic_entropy(logliks: Sequence[float], clusters: Sequence[int]) -> float:
    """H_SE (Eq. 8 over the Eq. 9-normalised cluster probabilities), in nats."""
    return entropy_from_logprobs(normalized_cluster_logprobs(logliks, clusters))


# ---------------------------------------------------------------------------------------------
# Clustering by final-answer equivalence
# ---------------------------------------------------------------------------------------------

def _norm(answer: str) -> str:
    return " ".join(answer.split())


def grader_equivalence(grader) -> Callable[[str, str], bool]:
    """``equivalent(a, b)`` for two extracted answers, decided by ``grader`` (memoised).

    Equal strings (whitespace-normalised) are equivalent; otherwise the grader must accept ``b`` with
    gold ``a`` *and* ``a`` with gold ``b`` (a symmetric relation even when the grader is not, as with
    bidirectional entailment in Kuhn et al. 2023). A grader that raises (e.g. the synth grader on a
    non-integer "gold") counts as "not equivalent".
    """
    memo: dict[tuple[str, str], bool] = {}

    def accepts(gold: str, answer: str) -> bool:
        try:
            return bool(grader.grade("\\boxed{" + answer + "}", gold).correct)
        except Exception:  # noqa: BLE001 - model output must never crash scoring
            return False

    def equivalent(a: str, b: str) -> bool:
        a, b = _norm(a), _norm(b)
        if a == b:
            return True
        key = (a, b) if a <= b else (b, a)
        if key not in memo:
            memo[key] = accepts(a, b) and accepts(b, a)
        return memo[key]

    return equivalent


def assign_clusters(answers: Sequence[str | None], correct: Sequence[bool], equivalent: Callable[[str, str], bool],
                    *, unparseable: str = DEFAULT_UNPARSEABLE) -> list[int]:
    """Cluster labels 0..K-1 (in order of first appearance) for M responses.

    Args:
        answers: extracted final answers (None: nothing could be extracted).
        correct: the grader's verdict against the gold answer (True joins the gold cluster).
        equivalent: symmetric answer equivalence (:func:`grader_equivalence`).
        unparseable: ``singleton`` or ``shared`` (see the module docstring).

    Greedy with one representative per cluster (the first member), so the result is a partition even
    when ``equivalent`` is not transitive: an answer joins the *first* cluster whose representative
    it matches, never two.
    """
    _check_unparseable(unparseable)
    if len(answers) != len(correct):
        raise CurriculumError(f"{len(answers)} answers but {len(correct)} verdicts")
    labels: list[int] = []
    reps: list[str] = []        # representative answer of each answer-cluster
    rep_label: list[int] = []   # its label
    gold_label: int | None = None
    none_label: int | None = None
    next_label = 0
    for ans, ok in zip(answers, correct):
        if ok:  # equivalent to the gold answer, the seed of the gold cluster
            if gold_label is None:
                gold_label, next_label = next_label, next_label + 1
            labels.append(gold_label)
        elif ans is None:
            if unparseable == "shared":
                if none_label is None:
                    none_label, next_label = next_label, next_label + 1
                labels.append(none_label)
            else:
                labels.append(next_label)
                next_label += 1
        else:
            for rep, lab in zip(reps, rep_label):
                if equivalent(rep, ans):
                    labels.append(lab)
                    break
            else:
                reps.append(ans)
                rep_label.append(next_label)
                labels.append(next_label)
                next_label += 1
    return labels


def _labels_with_rule(labels: Sequence[int | None], rule: str) -> list[int]:
    """Cached labels (None = unparseable) -> labels 0..K-1 under the unparseable rule (first appearance order)."""
    _check_unparseable(rule)
    remap: dict[object, int] = {}
    out = []
    for i, lab in enumerate(labels):
        key: object = lab if lab is not None else ("none" if rule == "shared" else ("single", i))
        if key not in remap:
            remap[key] = len(remap)
        out.append(remap[key])
    return out


def score_samples(record: Mapping[str, Any], variant: str, unparseable: str) -> SEScore:
    """The :class:`SEScore` of one cached sample record (``id``, ``labels``, ``logprob``, ``num_tokens``, ``correct``)."""
    labels = _labels_with_rule(record["labels"], unparseable)
    ll = response_logliks(variant, record["logprob"], record["num_tokens"])
    return SEScore(
        id=str(record["id"]), semantic_entropy=semantic_entropy(ll, labels), variant=variant,
        num_clusters=max(labels) + 1, m=len(labels), num_correct=int(sum(bool(c) for c in record["correct"])),
        num_unparseable=sum(lab is None for lab in record["labels"]), unparseable=unparseable)


# ---------------------------------------------------------------------------------------------
# Cache
# ---------------------------------------------------------------------------------------------

def cache_root() -> Path:
    """``$SENT_HARNESS_CACHE`` or ``~/.cache/sent-harness`` (shared with the embedded base-model cache)."""
    return Path(os.environ.get("SENT_HARNESS_CACHE") or Path.home() / ".cache" / "sent-harness")


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps({**header, "count": len(rows)}) + "\n")
        for r in rows:
            f.write(json.dumps(r) + "\n")
    os.replace(tmp, path)


def _se_problem(se: Any, m: Any) -> str | None:
    """Why ``se`` cannot be the semantic entropy of ``m`` samples (None if it can): it must be a finite
    number in ``[0, ln m]`` (``m`` equally likely clusters is the most it can be)."""
    if isinstance(se, bool) or not isinstance(se, (int, float)) or not math.isfinite(se):
        return f"semantic_entropy={se!r} is not a finite number"
    top = math.log(m) if isinstance(m, int) and not isinstance(m, bool) and m >= 1 else math.inf
    if not -1e-9 <= se <= top + 1e-9:
        return f"semantic_entropy={se!r} is outside [0, ln m = {top:.4f}] (m={m} samples)"
    return None


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


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------

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


def _check_m(m: int) -> None:
    if int(m) != m or m < 2:
        raise CurriculumError(f"curriculum.m={m}: semantic entropy needs at least 2 samples per prompt "
                              f"(the paper uses M = 8)")


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


# ---------------------------------------------------------------------------------------------
# Ordering and stages (Eq. 10)
# ---------------------------------------------------------------------------------------------

_DIGITS = re.compile(r"(\d+)")


def id_sort_key(pid: str) -> tuple:
    """Natural order of prompt ids: digit runs compare as numbers ("9" < "10"), the rest as text."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in _DIGITS.split(str(pid)) if t)


def stage_sizes(n: int, stages: int, fractions: Sequence[float] | None = None) -> list[int]:
    """Prompts per stage: equal (sizes differ by at most one, the earlier stages get the extra ones) or
    by ``fractions`` (largest-remainder rounding; ties to the earlier stage). Raises on an empty stage."""
    if int(stages) != stages or stages < 1:
        raise CurriculumError(f"curriculum.stages={stages} must be an integer >= 1")
    if n < 1:
        raise CurriculumError("no prompts to split into stages")
    if stages > n:
        raise CurriculumError(f"curriculum.stages={stages} is more than the {n} training prompts; use at most {n} stages")
    if fractions is None:
        fractions = [1.0 / stages] * stages
    fractions = [float(f) for f in fractions]
    if len(fractions) != stages:
        raise CurriculumError(f"curriculum.stage_fractions has {len(fractions)} entries for {stages} stages; "
                              f"give one fraction per stage")
    if any(not (f > 0) or math.isinf(f) for f in fractions):
        raise CurriculumError(f"curriculum.stage_fractions={fractions} must all be > 0")
    if abs(math.fsum(fractions) - 1.0) > 1e-6:
        raise CurriculumError(f"curriculum.stage_fractions={fractions} sum to {math.fsum(fractions)}; they must sum to 1")
    exact = [f * n for f in fractions]
    sizes = [math.floor(x + 1e-9) for x in exact]
    rest = n - sum(sizes)
    for k in sorted(range(stages), key=lambda k: (-(exact[k] - sizes[k]), k))[:rest]:
        sizes[k] += 1
    empty = [k + 1 for k, s in enumerate(sizes) if s == 0]
    if empty:
        raise CurriculumError(f"stage(s) {empty} would be empty ({n} prompts split by {fractions} -> {sizes}); "
                              f"use fewer stages or larger fractions")
    return sizes


def order_and_split(scores: Sequence[SEScore] | Mapping[str, float], stages: int,
                    fractions: Sequence[float] | None = None) -> list[list[str]]:
    """Eq. 10: ids sorted by ascending semantic entropy (ties by :func:`id_sort_key`), cut into stages.

    ``scores``: SEScore objects or ``{id: semantic_entropy}``.
    """
    pairs = ([(s.id, float(s.semantic_entropy)) for s in scores] if not isinstance(scores, Mapping)
             else [(str(k), float(v)) for k, v in scores.items()])
    if len({i for i, _ in pairs}) != len(pairs):
        raise CurriculumError("duplicate prompt ids in the scores")
    bad = [i for i, v in pairs if math.isnan(v)]
    if bad:
        raise CurriculumError(f"{len(bad)} prompts have a NaN semantic entropy (first: {bad[:3]})")
    sizes = stage_sizes(len(pairs), stages, fractions)
    order = [i for i, _ in sorted(pairs, key=lambda p: (p[1], id_sort_key(p[0])))]
    out, at = [], 0
    for s in sizes:
        out.append(order[at:at + s])
        at += s
    return out


#: curricula that score the training prompts: ``semantic_entropy`` orders them by ascending semantic
#: entropy (SENT §IV-A); ``shuffled`` is its control (the same stage sizes, steps and reference resets,
#: prompts assigned to stages in a seeded random order), which separates the token-level loss from data order
SCORED_CURRICULA = ("semantic_entropy", "shuffled")


def random_split(ids: Sequence[str], sizes: Sequence[int], seed: int) -> list[list[str]]:
    """``ids`` in a random order (seeded; independent of their scores), cut into parts of ``sizes``."""
    if sum(sizes) != len(ids):
        raise CurriculumError(f"stage sizes {list(sizes)} do not add up to {len(ids)} prompts")
    order = sorted(ids, key=id_sort_key)
    random.Random(_digest(["random-order", int(seed)])).shuffle(order)
    out, at = [], 0
    for n in sizes:
        out.append(order[at:at + n])
        at += n
    return out


def write_semantic_entropy_jsonl(run_dir: str | os.PathLike, scores: Sequence[SEScore],
                                 stage_of: Mapping[str, int]) -> Path:
    """``run_dir/semantic_entropy.jsonl``: one line per prompt in curriculum order (written atomically).

    Keys (docs/runlog.md): ``id``, ``semantic_entropy``, ``variant``, ``num_clusters``, ``stage``; extra:
    ``m``, ``unparseable`` (the rule), ``num_unparseable``, ``num_correct``.
    """
    missing = [s.id for s in scores if s.id not in stage_of]
    if missing:
        raise CurriculumError(f"{len(missing)} scored prompts have no stage (first: {missing[:3]})")
    rows = sorted(scores, key=lambda s: (stage_of[s.id], s.semantic_entropy, id_sort_key(s.id)))
    path = Path(run_dir) / "semantic_entropy.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    from core.runlog import atomic_write

    atomic_write(path, "".join(json.dumps({"id": s.id, "semantic_entropy": s.semantic_entropy, "variant": s.variant,
                                           "num_clusters": s.num_clusters, "stage": int(stage_of[s.id]), "m": s.m,
                                           "unparseable": s.unparseable, "num_unparseable": s.num_unparseable,
                                           "num_correct": s.num_correct}) + "\n" for s in rows))
    return path


def read_semantic_entropy_jsonl(path: str | os.PathLike) -> list[SEScore]:
    """Scores from a ``semantic_entropy.jsonl`` (ours, or a precomputed file with at least ``id`` and
    ``semantic_entropy``); a missing or malformed file raises :class:`CacheMissingError` naming the line."""
    path = Path(path)
    if not path.exists():
        raise CacheMissingError(f"semantic-entropy scores file {path} does not exist (curriculum.scores_path); "
                                f"compute it with `python -m core.curriculum` or unset scores_path")
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                se = r["semantic_entropy"]
                if why := _se_problem(se, r.get("m", -1)):
                    raise ValueError(why)
                se = float(se)
                out.append(SEScore(id=str(r["id"]), semantic_entropy=se, variant=str(r.get("variant", "unknown")),
                                   num_clusters=int(r.get("num_clusters", -1)), m=int(r.get("m", -1)),
                                   num_correct=int(r.get("num_correct", -1)),
                                   num_unparseable=int(r.get("num_unparseable", -1)),
                                   unparseable=str(r.get("unparseable", "unknown"))))
            except (ValueError, KeyError, TypeError) as exc:
                raise CacheMissingError(f"{path}:{lineno}: expected a JSON object with 'id' and 'semantic_entropy' "
                                        f"({type(exc).__name__}: {exc})") from None
    if not out:
        raise CacheMissingError(f"semantic-entropy scores file {path} is empty")
    return out


# ---------------------------------------------------------------------------------------------
# The plan the trainer iterates
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CurriculumPlan:
    """Stages of prompt ids (curriculum order) and the optimizer steps given to each.

    Steps are global and 1-based (``train.jsonl`` ``step``); stage k runs the steps
    ``start(k) .. start(k) + stage_steps[k-1] - 1``. Everything is a pure function of the step, so a
    resumed run asks :meth:`position` / :meth:`batch` for its next step and continues exactly.
    """

    stages: tuple[tuple[str, ...], ...]
    stage_steps: tuple[int, ...]
    reset_reference: bool = True
    name: str = "none"

    def __post_init__(self):
        if not self.stages:
            raise CurriculumError("a curriculum plan needs at least one stage")
        if len(self.stage_steps) != len(self.stages):
            raise CurriculumError(f"{len(self.stage_steps)} step counts for {len(self.stages)} stages")
        for k, (ids, n) in enumerate(zip(self.stages, self.stage_steps), 1):
            if not ids:
                raise CurriculumError(f"curriculum stage {k} has no prompts")
            if int(n) < 1:
                raise CurriculumError(f"curriculum stage {k} gets {n} optimizer steps; every stage needs >= 1 "
                                      f"(more total steps or fewer stages)")
        flat = [i for s in self.stages for i in s]
        if len(set(flat)) != len(flat):
            raise CurriculumError("a prompt id appears in more than one stage")

    # -- construction ------------------------------------------------------------------------
    @staticmethod
    def split_steps(total_steps: int, sizes: Sequence[int]) -> tuple[int, ...]:
        """``total_steps`` shared in proportion to the stage sizes (largest remainder, ties to the earlier
        stage): the same number of passes over every stage's data, as the SENT scripts (5 epochs per stage)."""
        if int(total_steps) < len(sizes):
            raise CurriculumError(f"{total_steps} optimizer steps cannot cover {len(sizes)} curriculum stages; "
                                  f"train for at least {len(sizes)} steps or use fewer stages")
        n = sum(sizes)
        exact = [total_steps * s / n for s in sizes]
        steps = [max(1, math.floor(x + 1e-9)) for x in exact]
        while sum(steps) > total_steps:  # only possible through the max(1, .) floor
            k = max((k for k in range(len(steps)) if steps[k] > 1), key=lambda k: (steps[k] - exact[k], k))
            steps[k] -= 1
        rest = total_steps - sum(steps)
        for k in sorted(range(len(sizes)), key=lambda k: (-(exact[k] - steps[k]), k))[:rest]:
            steps[k] += 1
        return tuple(steps)

    @classmethod
    def single(cls, ids: Sequence[str], total_steps: int) -> "CurriculumPlan":
        """No curriculum: one stage with every prompt."""
        return cls((tuple(ids),), (int(total_steps),), True, "none")

    @classmethod
    def from_stages(cls, stages: Sequence[Sequence[str]], total_steps: int, *, reset_reference: bool = True,
                    name: str = "semantic_entropy") -> "CurriculumPlan":
        return cls(tuple(tuple(s) for s in stages), cls.split_steps(total_steps, [len(s) for s in stages]),
                   bool(reset_reference), name)

    # -- queries -----------------------------------------------------------------------------
    @property
    def num_stages(self) -> int:
        return len(self.stages)

    @property
    def total_steps(self) -> int:
        return sum(self.stage_steps)

    def start(self, stage: int) -> int:
        """The first global step of ``stage`` (1-based)."""
        self._check_stage(stage)
        return 1 + sum(self.stage_steps[:stage - 1])

    def position(self, step: int) -> tuple[int, int]:
        """``(stage, step_in_stage)`` of the global 1-based ``step`` (both 1-based)."""
        if int(step) != step or not 1 <= step <= self.total_steps:
            raise CurriculumError(f"step {step} is outside the plan's steps 1..{self.total_steps}")
        at = step
        for k, n in enumerate(self.stage_steps, 1):
            if at <= n:
                return k, at
            at -= n
        raise AssertionError("unreachable")

    def stage_at(self, step: int) -> int:
        return self.position(step)[0]

    def is_stage_start(self, step: int) -> bool:
        """True at the first step of every stage (the trainer resets the reference there when asked)."""
        return self.position(step)[1] == 1

    def stage_ids(self, stage: int) -> list[str]:
        self._check_stage(stage)
        return list(self.stages[stage - 1])

    @property
    def stage_of(self) -> dict[str, int]:
        return {i: k for k, ids in enumerate(self.stages, 1) for i in ids}

    def batch(self, step: int, batch_size: int, seed: int) -> tuple[list[str], int]:
        """The prompt ids of ``step`` and their epoch (0-based pass over the stage's data).

        Within a stage the data is reshuffled every epoch (seeded by ``seed``, stage and epoch, as
        verl's shuffling dataloader does), and consecutive steps take consecutive slices of the
        concatenated epoch permutations; an epoch boundary inside a batch continues into the next epoch
        (the batch's epoch is that of its first prompt). A pure function of ``step``: resume-safe.
        """
        if int(batch_size) < 1:
            raise CurriculumError(f"batch_size={batch_size} must be >= 1")
        stage, j = self.position(step)
        ids = self.stages[stage - 1]
        n = len(ids)
        first = (j - 1) * batch_size
        out: list[str] = []
        epoch0 = first // n
        epoch, perm = -1, []
        for pos in range(first, first + batch_size):
            e = pos // n
            if e != epoch:
                epoch = e
                perm = list(ids)
                random.Random(_digest(["curriculum-batch", seed, stage, e])).shuffle(perm)
            out.append(perm[pos % n])
        return out, epoch0

    def _check_stage(self, stage: int) -> None:
        if int(stage) != stage or not 1 <= stage <= self.num_stages:
            raise CurriculumError(f"stage {stage} is outside 1..{self.num_stages}")


# ---------------------------------------------------------------------------------------------
# Config: resolving the curriculum group and building the plan for a run
# ---------------------------------------------------------------------------------------------

def _get(node: Any, key: str, default: Any = None) -> Any:
    if node is None:
        return default
    if isinstance(node, Mapping) or hasattr(node, "get"):
        v = node.get(key, default)
        return default if v is None else v
    return getattr(node, key, default)


def resolve_curriculum(cfg: Any, overrides: Sequence[str] = ()) -> Any:
    """Resolve ``curriculum.name=auto`` (the group's default choice) to the method's ``default_curriculum``
    and validate the node; returns ``cfg`` (an OmegaConf node or a plain dict, modified in place).

    ``overrides``: the command-line overrides (Hydra's ``task`` list), used to reject settings that would
    silently do nothing, e.g. ``curriculum.stages=3`` while the method's default curriculum is ``none``.
    """
    from omegaconf import OmegaConf, open_dict

    cur = _get(cfg, "curriculum")
    if cur is None:
        raise CurriculumError("the config has no curriculum node; add curriculum=none or curriculum=semantic_entropy")

    def put(key: str, value: Any) -> None:
        if OmegaConf.is_config(cur):
            with open_dict(cur):
                cur[key] = value
        else:
            cur[key] = value

    name = str(_get(cur, "name", "none"))
    if name == "auto":
        from methods import get_method_cls

        method = str(_get(_get(cfg, "method"), "name"))
        name = get_method_cls(method).default_curriculum
        put("name", name)
        if name == "none":
            set_here = [o for o in overrides if o.lstrip("+~").startswith("curriculum.") and
                        not o.lstrip("+~").startswith("curriculum.name")]
            if set_here:
                raise CurriculumError(
                    f"{', '.join(set_here)}: method={method} has no curriculum by default, so these would do "
                    f"nothing; add curriculum=semantic_entropy (e.g. 'w/ Cur' is method=grpo "
                    f"curriculum=semantic_entropy)")
            put("stages", 1)
    if name not in ("none",) + SCORED_CURRICULA:
        raise CurriculumError(f"curriculum={name!r} is unknown; choose none, semantic_entropy or shuffled (the "
                              f"control: semantic_entropy's stage schedule, prompts in random order), or auto: the "
                              f"method's default")
    stages = _get(cur, "stages", 1)
    if not isinstance(stages, int) or isinstance(stages, bool) or stages < 1:
        raise CurriculumError(f"curriculum.stages={stages!r} must be an integer >= 1")
    if name == "none" and stages != 1:
        raise CurriculumError(f"curriculum=none with curriculum.stages={stages}; use curriculum=semantic_entropy")
    if name in SCORED_CURRICULA:
        _check_m(_get(cur, "m", DEFAULT_M))
        _check_variant(str(_get(cur, "variant", DEFAULT_VARIANT)))
        _check_unparseable(str(_get(cur, "unparseable", DEFAULT_UNPARSEABLE)))
        fr = _get(cur, "stage_fractions")
        if fr is not None and len(list(fr)) != stages:
            raise CurriculumError(f"curriculum.stage_fractions has {len(list(fr))} entries for {stages} stages")
    return cfg


def prepare_curriculum(cur: Any, *, items: Sequence[PromptItem], total_steps: int, run_dir: str | os.PathLike | None,
                       generator_fn: Callable[[], Any] | None = None, grader=None, model_key: str | None = None,
                       max_new_tokens: int | None = None, progress: bool = True,
                       log: Callable[[str], None] = print) -> CurriculumPlan:
    """The plan of one run from its ``curriculum`` config node (resolved by :func:`resolve_curriculum`).

    ``none``: one stage with every prompt. ``semantic_entropy``: the scores come from
    ``curriculum.scores_path`` when set (a ``semantic_entropy.jsonl``), else from :func:`score_prompts`
    with ``generator_fn()`` (called only when the cache misses) and ``grader``; they are ordered, split,
    and written to ``run_dir/semantic_entropy.jsonl``. Deterministic: a resumed run rebuilds the same plan
    (from the cache) and continues at its step.
    """
    name = str(_get(cur, "name", "none"))
    ids = [it.id for it in items]
    if name == "none":
        return CurriculumPlan.single(ids, total_steps)
    if name not in SCORED_CURRICULA:
        raise CurriculumError(f"curriculum={name!r}: resolve it first (core.curriculum.resolve_curriculum)")
    stages = int(_get(cur, "stages", 2))
    fractions = _get(cur, "stage_fractions")
    variant = str(_get(cur, "variant", DEFAULT_VARIANT))
    scores_path = _get(cur, "scores_path")
    stage_sizes(len(ids), stages, list(fractions) if fractions is not None else None)  # fail before sampling
    if scores_path:
        scores = read_semantic_entropy_jsonl(scores_path)
        have = {s.id for s in scores}
        missing = [i for i in ids if i not in have]
        if missing:
            raise CurriculumError(f"{scores_path}: {len(missing)} training prompts have no score (first: "
                                  f"{missing[:3]}); score every prompt of the training set")
        want = set(ids)
        scores = [s for s in scores if s.id in want]
    else:
        if grader is None:
            raise CurriculumError("curriculum=semantic_entropy needs a grader (or curriculum.scores_path)")

        class _Lazy:  # build the generator only when the cache misses
            def generate(self, *a, **kw):
                if not hasattr(self, "g"):
                    if generator_fn is None:
                        raise CurriculumError("no generator to sample with (and no cached scores)")
                    self.g = generator_fn()
                return self.g.generate(*a, **kw)

        mnt = _get(cur, "max_new_tokens") or max_new_tokens
        if not mnt:
            raise CurriculumError("curriculum.max_new_tokens is unset and the backend gave no response length")
        scores = score_prompts(
            _Lazy(), items, grader, m=int(_get(cur, "m", DEFAULT_M)), variant=variant,
            unparseable=str(_get(cur, "unparseable", DEFAULT_UNPARSEABLE)), seed=int(_get(cur, "seed", 0)),
            max_new_tokens=int(mnt), temperature=float(_get(cur, "temperature", 1.0)),
            top_p=float(_get(cur, "top_p", 1.0)), batch_size=int(_get(cur, "batch_size", 64)), model_key=model_key,
            cache_dir=_get(cur, "cache_dir"), progress=progress)
    split = order_and_split(scores, stages, list(fractions) if fractions is not None else None)
    if name == "shuffled":  # the control: the same stage sizes and schedule, prompts in a seeded random order
        split = random_split([s.id for s in scores], [len(part) for part in split], int(_get(cur, "seed", 0)))
    plan = CurriculumPlan.from_stages(split, total_steps, reset_reference=bool(_get(cur, "reset_reference", True)),
                                      name=name)
    if run_dir is not None:
        write_semantic_entropy_jsonl(run_dir, scores, plan.stage_of)
    by_id = {s.id: s.semantic_entropy for s in scores}
    desc = "; ".join(f"stage {k}: {len(s)} prompts, SE {min(by_id[i] for i in s):.3f}..{max(by_id[i] for i in s):.3f}, "
                     f"{plan.stage_steps[k - 1]} steps" for k, s in enumerate(split, 1))
    order = "random order (control)" if name == "shuffled" else "ascending semantic entropy"
    log(f"[curriculum] {order}, semantic entropy ({variant}), {stages} stage(s): {desc}")
    return plan


# ---------------------------------------------------------------------------------------------
# Command line: scores for the verl backend (curriculum.scores_path), or for inspection
# ---------------------------------------------------------------------------------------------

def _parser():
    import argparse

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
    args = _parser().parse_args(argv)
    from core.eval.benchmarks import grader_for, load_benchmark
    from core.eval.generation import make_generator
    from core.eval.prompts import build_prompt

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
    if args.backend == "embedded":
        from core.embedded.task import prompt_text

        fmt = prompt_text
    else:
        tok = getattr(gen, "tokenizer", None)
        fmt = lambda q: build_prompt(q, tok)  # noqa: E731 - the training prompt (chat template + paper instruction)
    items = [PromptItem(p.id, fmt(p.question), p.answer) for p in problems]
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


if __name__ == "__main__":
    raise SystemExit(main())
