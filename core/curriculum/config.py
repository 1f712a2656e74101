"""The curriculum's config node (``sweeps/curriculum/*.yaml``): resolving ``curriculum=auto`` and
validating the node (:func:`resolve_curriculum`, the only place ``auto`` is resolved, for both
backends), and building a run's :class:`~core.curriculum.plan.CurriculumPlan` from it
(:func:`prepare_curriculum`).

Every key is read with ``core.config.select``, which has no default: the defaults live in
``sweeps/curriculum/`` only, so a node built by hand must carry every key the chosen curriculum reads.
The generator and the grader are passed in by the backend (``core/embedded/curriculum.py`` for the
embedded one; the verl backend scores on vLLM through ``python -m core.curriculum``).

Imports ``core.curriculum``'s own modules, ``core.config``, OmegaConf and (to resolve ``auto``) ``methods``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from omegaconf import OmegaConf, open_dict

from core.config import select
from core.curriculum.base import CurriculumError, PromptItem
from core.curriculum.entropy import _check_m, _check_unparseable, _check_variant
from core.curriculum.plan import (CurriculumPlan, order_and_split, random_split, read_semantic_entropy_jsonl,
                                  stage_sizes, write_semantic_entropy_jsonl)
from core.curriculum.scoring import score_prompts

__all__ = ["SCORED_CURRICULA", "resolve_curriculum", "prepare_curriculum"]

#: curricula that score the training prompts: ``semantic_entropy`` orders them by ascending semantic
#: entropy (SENT §IV-A); ``shuffled`` is its control (the same stage sizes, steps and reference resets,
#: prompts assigned to stages in a seeded random order), which separates the token-level loss from data order
SCORED_CURRICULA = ("semantic_entropy", "shuffled")


def resolve_curriculum(cfg: Any, overrides: Sequence[str] = ()) -> Any:
    """Resolve ``curriculum.name=auto`` (the group's default choice) to the method's ``default_curriculum``
    and validate the node; returns ``cfg`` (an OmegaConf node or a plain dict, modified in place).

    ``overrides``: the command-line overrides (Hydra's ``task`` list), used to reject settings that would
    silently do nothing, e.g. ``curriculum.stages=3`` while the method's default curriculum is ``none``.
    """
    cur = cfg.get("curriculum")
    if cur is None:
        raise CurriculumError("the config has no curriculum node; add curriculum=none or curriculum=semantic_entropy")

    def put(key: str, value: Any) -> None:
        if OmegaConf.is_config(cur):
            with open_dict(cur):
                cur[key] = value
        else:
            cur[key] = value

    name = str(select(cur, "name"))
    if name == "auto":
        from methods import get_method_cls

        method = str(select(cfg, "method.name"))
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
    stages = select(cur, "stages")
    if not isinstance(stages, int) or isinstance(stages, bool) or stages < 1:
        raise CurriculumError(f"curriculum.stages={stages!r} must be an integer >= 1")
    if name == "none" and stages != 1:
        raise CurriculumError(f"curriculum=none with curriculum.stages={stages}; use curriculum=semantic_entropy")
    if name in SCORED_CURRICULA:
        _check_m(select(cur, "m"))
        _check_variant(str(select(cur, "variant")))
        _check_unparseable(str(select(cur, "unparseable")))
        fr = select(cur, "stage_fractions")
        if fr is not None and len(list(fr)) != stages:
            raise CurriculumError(f"curriculum.stage_fractions has {len(list(fr))} entries for {stages} stages")
    return cfg


def prepare_curriculum(cur: Any, *, items: Sequence[PromptItem], total_steps: int, run_dir: str | os.PathLike | None,
                       generator_fn: Callable[[], Any] | None = None, grader=None, model_key: str | None = None,
                       max_new_tokens: int | None = None, progress: bool = True,
                       log: Callable[[str], None] = print) -> CurriculumPlan:
    """The plan of one run from its ``curriculum`` config node (resolved by :func:`resolve_curriculum`).

    ``none``: one stage with every prompt. ``semantic_entropy``: the scores come from
    ``curriculum.scores_path`` when set (a ``semantic_entropy.jsonl``), else from
    :func:`~core.curriculum.scoring.score_prompts` with ``generator_fn()`` (called only when the cache
    misses) and ``grader``; they are ordered, split, and written to ``run_dir/semantic_entropy.jsonl``.
    Deterministic: a resumed run rebuilds the same plan (from the cache) and continues at its step.
    """
    name = str(select(cur, "name"))
    ids = [it.id for it in items]
    if name == "none":
        return CurriculumPlan.single(ids, total_steps)
    if name not in SCORED_CURRICULA:
        raise CurriculumError(f"curriculum={name!r}: resolve it first (core.curriculum.resolve_curriculum)")
    stages = int(select(cur, "stages"))
    fractions = select(cur, "stage_fractions")
    variant = str(select(cur, "variant"))
    scores_path = select(cur, "scores_path")
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

        mnt = select(cur, "max_new_tokens") or max_new_tokens
        if not mnt:
            raise CurriculumError("curriculum.max_new_tokens is unset and the backend gave no response length")
        scores = score_prompts(
            _Lazy(), items, grader, m=int(select(cur, "m")), variant=variant,
            unparseable=str(select(cur, "unparseable")), seed=int(select(cur, "seed")),
            max_new_tokens=int(mnt), temperature=float(select(cur, "temperature")),
            top_p=float(select(cur, "top_p")), batch_size=int(select(cur, "batch_size")), model_key=model_key,
            cache_dir=select(cur, "cache_dir"), progress=progress)
    split = order_and_split(scores, stages, list(fractions) if fractions is not None else None)
    if name == "shuffled":  # the control: the same stage sizes and schedule, prompts in a seeded random order
        split = random_split([s.id for s in scores], [len(part) for part in split], int(select(cur, "seed")))
    plan = CurriculumPlan.from_stages(split, total_steps, reset_reference=bool(select(cur, "reset_reference")),
                                      name=name)
    if run_dir is not None:
        write_semantic_entropy_jsonl(run_dir, scores, plan.stage_of)
    by_id = {s.id: s.semantic_entropy for s in scores}
    desc = "; ".join(f"stage {k}: {len(s)} prompts, SE {min(by_id[i] for i in s):.3f}..{max(by_id[i] for i in s):.3f}, "
                     f"{plan.stage_steps[k - 1]} steps" for k, s in enumerate(split, 1))
    order = "random order (control)" if name == "shuffled" else "ascending semantic entropy"
    log(f"[curriculum] {order}, semantic entropy ({variant}), {stages} stage(s): {desc}")
    return plan
