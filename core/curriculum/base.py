"""The curriculum's shared vocabulary: its two error types, the prompt and score records every other
module passes around, and the one hash that keys caches and seeds shuffles.

Imports only the standard library (every other module of ``core.curriculum`` imports this one).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["CurriculumError", "CacheMissingError", "PromptItem", "SEScore"]


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


def _digest(obj: Any) -> str:
    """SHA-256 of ``obj``'s canonical JSON (cache file names, shuffle seeds, hub model keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
