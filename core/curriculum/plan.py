"""Ordering and stages (SENT Eq. 10, Algorithm 1 lines 3-8): the training set sorted by ascending
semantic entropy (ties by prompt id), cut into N stages, and the :class:`CurriculumPlan` the trainers
iterate step by step; plus the run's ``semantic_entropy.jsonl`` (written here, read back for
precomputed scores).

Imports ``core.curriculum.base``, ``.entropy`` (the bound a score must satisfy) and ``core.runlog``
(the atomic write); nothing that samples or reads the config.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.curriculum.base import CacheMissingError, CurriculumError, SEScore, _digest
from core.curriculum.entropy import _se_problem
from core.runlog import atomic_write

__all__ = ["id_sort_key", "stage_sizes", "order_and_split", "random_split", "write_semantic_entropy_jsonl",
           "read_semantic_entropy_jsonl", "CurriculumPlan"]

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
