"""The semantic-entropy curriculum on the embedded CPU backend (the glue between ``core.curriculum`` and
``core.embedded``).

A curriculum orders a *fixed* training set, so curriculum runs train on one: ``train_size`` synthetic
problems drawn once from a stream that depends on nothing but the task version and ``train_seed`` (every
run, every method and every seed shares it, as every verl run shares DAPO-Math-17k), each level equally
likely, never a held-out benchmark question. Prompt ids are ``synth_train/<index>``.

Scoring uses the embedded generator (batched KV-cache sampling, log-probs gathered while sampling) on the
base (SFT) model -- SENT's "initial policy" -- and the ``synth`` grader; the cache key includes a hash of
the base model's weights.

This is where the embedded backend hands ``core.curriculum`` what it needs (its training prompts, its
generator, its grader, a fingerprint of its weights); ``core.curriculum`` never imports ``core.embedded``.
Imports ``core.curriculum``, ``core.config`` and ``core.embedded``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from core import curriculum as C
from core.config import select
from core.embedded import task

__all__ = ["TRAIN_PREFIX", "training_set", "prompt_items", "build_plan"]

TRAIN_PREFIX = "synth_train/"


def training_set(size: int, seed: int = 0) -> dict[str, task.Problem]:
    """``{id: problem}`` of the fixed embedded training set (insertion order = index order)."""
    if int(size) < 1:
        raise C.CurriculumError(f"curriculum.train_size={size} must be >= 1")
    digest = hashlib.sha256(repr(("synth-train", task.TASK_VERSION, int(seed))).encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "little"))
    return {f"{TRAIN_PREFIX}{i}": task.train_problem(rng) for i in range(int(size))}


def prompt_items(problems: Mapping[str, task.Problem]) -> list[C.PromptItem]:
    return [C.PromptItem(pid, task.prompt_text(p.question), str(p.answer)) for pid, p in problems.items()]


def build_plan(cur: Any, *, base, total_steps: int, run_dir: str | Path | None, max_new_tokens: int,
               progress: bool = True, log: Callable[[str], None] = print,
               batch_size: int = 2048) -> tuple[C.CurriculumPlan, dict[str, task.Problem] | None]:
    """The run's :class:`~core.curriculum.CurriculumPlan` and its training problems by id.

    ``curriculum=none`` returns ``(single-stage plan over no fixed set, None)``: the trainer keeps
    drawing fresh problems. ``semantic_entropy`` scores the fixed training set with ``base`` (cached),
    orders and splits it, and writes ``run_dir/semantic_entropy.jsonl``.
    """
    name = str(select(cur, "name"))
    if name == "none":
        return C.CurriculumPlan.single(["<stream>"], total_steps), None
    from core.embedded.generator import EmbeddedGenerator

    problems = training_set(int(select(cur, "train_size")), int(select(cur, "train_seed")))
    plan = C.prepare_curriculum(
        cur, items=prompt_items(problems), total_steps=total_steps, run_dir=run_dir,
        generator_fn=lambda: EmbeddedGenerator(model=base, batch_size=batch_size), grader=task.SynthGrader(),
        model_key="embedded-" + C.model_key_of_state_dict(base.state_dict()), max_new_tokens=max_new_tokens,
        progress=progress, log=log)
    return plan, problems
