"""The embedded synthetic task: multi-term addition with free choice of route.

A problem is a sum of ``k`` one-digit terms, e.g. ``7+5+8+4``. A solution adds one term at a time
and boxes the result::

    7+8=15,15+5=20,20+4=24,\\boxed{24}

Any order of the terms is a valid route, so a solution has genuine *forking* tokens (which term to
take next: up to ``ln k`` nats) besides near-deterministic ones (copying a term, the digits of a
partial sum). That mirrors what the entropy papers describe for LLM reasoning: a minority of
high-entropy "fork" tokens and a majority of low-entropy tokens. Difficulty grows with the number
of terms (3 to 8: more steps, more carries, more ways to slip).

Everything here is plain Python (no torch): the tokenizer, problem generators, the SFT targets with
injected mistakes, the grader (``synth``), the six benchmarks ``synth_1`` .. ``synth_6`` and the two
harder ones of ``preset=discriminating``, ``synth_7`` and ``synth_8`` (:data:`HARD_LEVELS`).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from core.eval.grading import Grade, extract_answer

__all__ = [
    "TASK_VERSION", "LEVELS", "HARD_LEVELS", "BENCHMARK_SIZE", "Tokenizer", "TOKENIZER", "SynthGrader", "Problem",
    "make_problem", "benchmark_problems", "train_problem", "solution", "sft_target", "prompt_text", "register",
]

TASK_VERSION = 3
"""Bumped whenever problems, targets or the tokenizer change (it is part of the base-model cache key)."""

#: difficulty level -> (number of terms, largest term). synth_1 is the easiest.
LEVELS: dict[int, tuple[int, int]] = {1: (3, 9), 2: (4, 9), 3: (5, 9), 4: (6, 9), 5: (7, 9), 6: (8, 9)}
#: held-out levels harder than any training or SFT problem (preset=discriminating, docs/discriminating.md):
#: level -> (number of terms, smallest term, largest term). Nine terms is the most that fits the model's 128
#: positions (prompt 19 + longest correct solution 103 tokens). Never drawn for training or SFT (those use
#: LEVELS only) and not part of LEVELS, so nothing computed from LEVELS changes.
HARD_LEVELS: dict[int, tuple[int, int, int]] = {7: (9, 1, 9), 8: (9, 5, 9)}
BENCHMARK_SIZE = 64
"""Problems per held-out benchmark (each level)."""

_BENCH_SEED = 10_000  # benchmark problems are drawn from their own stream, disjoint from training


# ---------------------------------------------------------------------------------------------
# Tokenizer: one token per character, plus the box opener and the specials
# ---------------------------------------------------------------------------------------------

class Tokenizer:
    """A fixed vocabulary: ``<pad> <s> </s>``, the digits, ``+ = , \\n``, ``\\boxed{`` and ``}``."""

    SPECIALS = ("<pad>", "<s>", "</s>")
    PIECES = tuple("0123456789") + ("+", "=", ",", "|", "\n", "\\boxed{", "}")

    def __init__(self) -> None:
        self.tokens = list(self.SPECIALS + self.PIECES)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.pad_id, self.bos_id, self.eos_id = 0, 1, 2

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        """Text -> ids (no BOS/EOS). Raises ValueError naming the first character it cannot encode."""
        ids, i = [], 0
        while i < len(text):
            if text.startswith("\\boxed{", i):
                ids.append(self.index["\\boxed{"])
                i += len("\\boxed{")
                continue
            ch = text[i]
            if ch not in self.index or ch in self.SPECIALS:
                raise ValueError(f"the synth tokenizer cannot encode {ch!r} at position {i} of {text!r}")
            ids.append(self.index[ch])
            i += 1
        return ids

    def decode(self, ids) -> str:
        """Ids -> text, stopping at the first ``</s>``; ``<pad>``/``<s>`` are dropped."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i > self.eos_id:
                out.append(self.tokens[i])
        return "".join(out)

    def token_str(self, i: int) -> str:
        return self.tokens[int(i)]


TOKENIZER = Tokenizer()


# ---------------------------------------------------------------------------------------------
# Problems and solutions
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    """A synthetic problem: its terms, level and the gold sum."""

    terms: tuple[int, ...]
    level: int

    @property
    def question(self) -> str:
        return "+".join(map(str, self.terms))

    @property
    def answer(self) -> int:
        return sum(self.terms)


def make_problem(rng: random.Random, level: int) -> Problem:
    if level not in LEVELS:
        raise ValueError(f"unknown synth level {level}; valid: {sorted(LEVELS)}")
    k, hi = LEVELS[level]
    return Problem(tuple(rng.randint(1, hi) for _ in range(k)), level)


def prompt_text(question: str) -> str:
    """What the model is conditioned on (after ``<s>``): the question and a newline."""
    return question + "\n"


def _rest(values: list[int]) -> str:
    return "|" + "".join(map(str, values)) if values else ""


def _render(first: int, steps: list[tuple[int, int, list[int]]]) -> str:
    """``first`` then steps ``(term, result, remaining)``: ``a+b=c|rest,...,\\boxed{c}``."""
    out, acc = [], first
    for term, res, rest in steps:
        out.append(f"{acc}+{term}={res}{_rest(rest)}")
        acc = res
    return ",".join(out) + f",\\boxed{{{acc}}}"


def _check_terms(terms) -> None:
    if len(terms) < 2 or any(not 0 <= int(t) <= 9 for t in terms):
        raise ValueError(f"a synth problem has at least two one-digit terms, got {tuple(terms)}")


def _remaining(terms, struck) -> list[int]:
    """The question's terms minus ``struck`` (a multiset), in the question's order."""
    rest = list(terms)
    for v in struck:
        rest.remove(v)
    return rest


def solution(terms, order=None) -> str:
    """A correct solution adding ``terms`` in ``order`` (indices; default: as given).

    Each step writes the terms still to add after it (``|`` then their digits, in the question's
    order; a value that occurs twice loses its first occurrence), so which terms are used is visible
    locally and a small model need not track it over the whole solution.
    """
    _check_terms(terms)
    order = list(range(len(terms))) if order is None else list(order)
    if sorted(order) != list(range(len(terms))):
        raise ValueError(f"order={order} is not a permutation of the {len(terms)} term indices")
    first = terms[order[0]]
    steps, acc = [], first
    for n, j in enumerate(order[1:], 2):
        acc += terms[j]
        steps.append((terms[j], acc, _remaining(terms, [terms[i] for i in order[:n]])))
    return _render(first, steps)


def sft_target(problem: Problem, rng: random.Random, slip_per_step: float) -> tuple[str, int]:
    """An SFT target for ``problem``: a uniformly random route in which each step, independently
    with probability ``slip_per_step``, carries an injected mistake that the rest of the solution
    carries forward consistently. Longer problems have more steps, so more chances to slip: the
    targets themselves get harder with the number of terms, as longer reasoning chains do.

    Mistakes (equally likely): a partial sum off by 1 or 10 (a "carry slip"); a term dropped (struck
    from the remaining terms without being added); a term added twice (added but not struck, so it
    is added again later). Returns ``(target, number of mistakes)``.
    """
    terms = list(problem.terms)
    _check_terms(terms)
    if not 0.0 <= slip_per_step <= 1.0:
        raise ValueError(f"slip_per_step={slip_per_step} must be in [0, 1]")
    order = list(range(len(terms)))
    rng.shuffle(order)
    if slip_per_step == 0.0:
        return solution(terms, order), 0
    queue = [terms[j] for j in order]                     # values in the order they will be taken
    first = queue.pop(0)
    struck = [first]                                      # values struck from the question so far
    steps, acc, mistakes = [], first, 0
    while queue:
        term = queue.pop(0)
        res = acc + term
        struck.append(term)
        if rng.random() < slip_per_step:
            mistakes += 1
            kind = rng.randrange(3)
            if kind == 1 and len(struck) < len(terms):    # drop: strike another term, never add it
                gone = rng.choice(_remaining(terms, struck))
                struck.append(gone)
                queue.remove(gone)
            elif kind == 2 and mistakes <= 2:             # double: add the term but do not strike it
                struck.pop()                              # (at most twice: the solution stays finite)
                queue.insert(rng.randrange(len(queue) + 1), term)
            else:                                         # a carry slip (or a drop with nothing left)
                res = max(0, res + rng.choice((-10, -1, 1, 10)))
        steps.append((term, res, _remaining(terms, struck)))
        acc = res
    return _render(first, steps), mistakes


def _stream_rng(*parts) -> random.Random:
    """A ``random.Random`` seeded from a stable hash of ``parts`` (independent of PYTHONHASHSEED)."""
    h = hashlib.sha256(repr(parts).encode()).digest()
    return random.Random(int.from_bytes(h[:8], "little"))


_BENCH_CACHE: dict[int, list[Problem]] = {}


def _make_hard_problem(rng: random.Random, level: int) -> Problem:
    k, lo, hi = HARD_LEVELS[level]
    return Problem(tuple(rng.randint(lo, hi) for _ in range(k)), level)


def benchmark_problems(level: int) -> list[Problem]:
    """The fixed held-out problems of ``synth_<level>`` (distinct questions), ``level`` in LEVELS or
    HARD_LEVELS."""
    if level not in _BENCH_CACHE:
        make = _make_hard_problem if level in HARD_LEVELS else make_problem
        rng = _stream_rng("synth-bench", TASK_VERSION, level, _BENCH_SEED)
        seen, out = set(), []
        while len(out) < BENCHMARK_SIZE:
            p = make(rng, level)
            if p.question not in seen:
                seen.add(p.question)
                out.append(p)
        _BENCH_CACHE[level] = out
    return list(_BENCH_CACHE[level])


_HELD_OUT: set[str] | None = None


def held_out_questions() -> set[str]:
    global _HELD_OUT
    if _HELD_OUT is None:
        _HELD_OUT = {p.question for lvl in LEVELS for p in benchmark_problems(lvl)}
    return _HELD_OUT


def train_problem(rng: random.Random, levels=tuple(LEVELS)) -> Problem:
    """A training problem (uniform level), never one of the held-out benchmark questions."""
    held = held_out_questions()
    while True:
        p = make_problem(rng, rng.choice(list(levels)))
        if p.question not in held:
            return p


# ---------------------------------------------------------------------------------------------
# Grader and benchmark registration (the interfaces the real benchmarks use)
# ---------------------------------------------------------------------------------------------

class SynthGrader:
    """Last ``\\boxed{}`` (``core.eval.grading.extract_answer``), compared as a non-negative integer."""

    name = "synth"

    def grade(self, response: str, gold: str) -> Grade:
        try:
            answer = extract_answer(response)
        except Exception:  # noqa: BLE001 - a grader never raises on model output
            return Grade(False, None)
        if answer is None:
            return Grade(False, None)
        ok = answer.isdigit() and len(answer) < 12 and int(answer) == int(gold)
        return Grade(ok, answer)


_REGISTERED = False


def register() -> None:
    """Register the ``synth`` grader and benchmarks ``synth_1`` .. ``synth_8`` (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from core.eval import benchmarks as B
    from core.eval.grading import grader_names, register_grader

    if "synth" not in grader_names():
        register_grader("synth", SynthGrader)
    for level in (*LEVELS, *HARD_LEVELS):
        key = f"synth_{level}"

        def load(level=level, key=key):
            return [B.Problem(f"{key}/{i}", p.question, str(p.answer), key)
                    for i, p in enumerate(benchmark_problems(level))]

        try:
            B.register_benchmark(key, load, grader="synth", size=BENCHMARK_SIZE,
                                 prompt=lambda question, tokenizer=None: prompt_text(question))
        except ValueError:  # already registered (module reloaded)
            pass
    _REGISTERED = True
