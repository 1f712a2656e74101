"""The semantic-entropy curriculum of SENT (arXiv 2512.04359, §IV-A Eq. 6-10, Algorithm 1 lines 3-8):
every training prompt is scored once with the *initial* policy (M sampled responses, clustered by
final-answer equivalence), the training set is sorted by ascending semantic entropy (ties by prompt id)
and cut into N stages trained one after the other. ``docs/curriculum.md`` states every choice made here.

One module per concern, each saying what it owns and may import:

- :mod:`~core.curriculum.base`: the errors and the prompt/score records;
- :mod:`~core.curriculum.entropy`: the semantic-entropy math (Eq. 7-9) and the answer clustering;
- :mod:`~core.curriculum.scoring`: sampling answers through a generator, and the sample/score cache;
- :mod:`~core.curriculum.plan`: ordering and splitting (Eq. 10), the stage plan, ``semantic_entropy.jsonl``;
- :mod:`~core.curriculum.config`: the ``curriculum`` config node (``auto`` resolved here) -> a plan;
- :mod:`~core.curriculum.cli`: ``python -m core.curriculum`` (scores for the verl backend).

The package imports ``core.eval``, ``core.runlog``, ``core.config`` and ``methods``, never a training
backend: a backend passes in its generator, grader and prompts (``core/embedded/curriculum.py`` is the
embedded backend's glue). This file only re-exports the public names.
"""

from core.curriculum.base import CacheMissingError, CurriculumError, PromptItem, SEScore
from core.curriculum.cli import main
from core.curriculum.config import SCORED_CURRICULA, prepare_curriculum, resolve_curriculum
from core.curriculum.entropy import (DEFAULT_M, DEFAULT_UNPARSEABLE, DEFAULT_VARIANT, SCORE_VERSION, UNPARSEABLE_RULES,
                                     VARIANTS, assign_clusters, entropy_from_logprobs, grader_equivalence,
                                     normalized_cluster_logprobs, response_logliks, score_samples, semantic_entropy)
from core.curriculum.plan import (CurriculumPlan, id_sort_key, order_and_split, random_split,
                                  read_semantic_entropy_jsonl, stage_sizes, write_semantic_entropy_jsonl)
from core.curriculum.scoring import cache_root, data_key, model_key_of_path, model_key_of_state_dict, score_prompts

__all__ = [
    "VARIANTS", "UNPARSEABLE_RULES", "DEFAULT_VARIANT", "DEFAULT_UNPARSEABLE", "DEFAULT_M", "SCORE_VERSION",
    "PromptItem", "SEScore", "CurriculumError", "CacheMissingError",
    "response_logliks", "normalized_cluster_logprobs", "entropy_from_logprobs", "semantic_entropy",
    "assign_clusters", "grader_equivalence", "score_samples", "score_prompts",
    "id_sort_key", "order_and_split", "random_split", "SCORED_CURRICULA",
    "stage_sizes", "write_semantic_entropy_jsonl", "read_semantic_entropy_jsonl",
    "CurriculumPlan", "prepare_curriculum", "resolve_curriculum", "cache_root", "data_key", "model_key_of_path",
    "model_key_of_state_dict", "main",
]
