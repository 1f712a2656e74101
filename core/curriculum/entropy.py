"""Semantic entropy of one prompt from its sampled responses (SENT, arXiv 2512.04359, §IV-A Eq. 6-9)::

    o^1..o^M ~ pi_theta(.|q)                   (Eq. 6)  M = 8, temperature 1.0, top-p 1.0
    C_1..C_K = clusters of final-answer equivalence (grader-decided)
    P(C_k|q) = sum_{o in C_k} P(o|q)           (Eq. 7)  computed as a log-sum-exp
    P^(C_k|q) = P(C_k|q) / sum_j P(C_j|q)      (Eq. 9)
    H_SE(q) = -sum_k P^(C_k|q) ln P^(C_k|q)    (Eq. 8)  natural log: nats, max ln M = 2.08 for M = 8

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

Owns the numerics (pure Python: M is small; every sum runs over sorted values, so the result does not
depend on the order of the responses, and equal inputs give bit-identical entropies -> exact ties), the
clustering, the checks of M, the variant and the unparseable rule, and :func:`score_samples` (one cached
sample record -> :class:`~core.curriculum.base.SEScore`). Imports only ``core.curriculum.base`` and
``cachetools``; no generator, no file I/O, no torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import cachetools

from core.curriculum.base import CurriculumError, SEScore

__all__ = ["VARIANTS", "UNPARSEABLE_RULES", "DEFAULT_VARIANT", "DEFAULT_UNPARSEABLE", "DEFAULT_M", "SCORE_VERSION",
           "response_logliks", "normalized_cluster_logprobs", "entropy_from_logprobs", "semantic_entropy",
           "grader_equivalence", "assign_clusters", "score_samples"]

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


def _check_m(m: int) -> None:
    if int(m) != m or m < 2:
        raise CurriculumError(f"curriculum.m={m}: semantic entropy needs at least 2 samples per prompt "
                              f"(the paper uses M = 8)")


def _se_problem(se: Any, m: Any) -> str | None:
    """Why ``se`` cannot be the semantic entropy of ``m`` samples (None if it can): it must be a finite
    number in ``[0, ln m]`` (``m`` equally likely clusters is the most it can be)."""
    if isinstance(se, bool) or not isinstance(se, (int, float)) or not math.isfinite(se):
        return f"semantic_entropy={se!r} is not a finite number"
    top = math.log(m) if isinstance(m, int) and not isinstance(m, bool) and m >= 1 else math.inf
    if not -1e-9 <= se <= top + 1e-9:
        return f"semantic_entropy={se!r} is outside [0, ln m = {top:.4f}] (m={m} samples)"
    return None


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


def _norm(answer: str) -> str:
    return " ".join(answer.split())


def grader_equivalence(grader) -> Callable[[str, str], bool]:
    """``equivalent(a, b)`` for two extracted answers, decided by ``grader`` (memoised).

    Equal strings (whitespace-normalised) are equivalent; otherwise the grader must accept ``b`` with
    gold ``a`` *and* ``a`` with gold ``b`` (a symmetric relation even when the grader is not, as with
    bidirectional entailment in Kuhn et al. 2023). A grader that raises (e.g. the synth grader on a
    non-integer "gold") counts as "not equivalent".
    """

    def accepts(gold: str, answer: str) -> bool:
        try:
            return bool(grader.grade("\\boxed{" + answer + "}", gold).correct)
        except Exception:  # noqa: BLE001 - model output must never crash scoring
            return False

    @cachetools.cached(cache={}, key=lambda a, b: (a, b) if a <= b else (b, a))  # memo: unbounded, per call
    def both_accept(a: str, b: str) -> bool:
        return accepts(a, b) and accepts(b, a)

    def equivalent(a: str, b: str) -> bool:
        a, b = _norm(a), _norm(b)
        return a == b or both_accept(a, b)

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
