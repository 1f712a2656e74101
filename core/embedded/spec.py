"""``TrainSpec``: the embedded backend's RL settings (the ``train:`` block of the Hydra config), with
the embedded default experiment's values and their validation. ``core.config.register_configs``
stores it as the ``train`` node, so this class is the one place those defaults live.

May import: ``core.embedded.model``'s validation helpers and the standard library.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from core.embedded.model import count_problems, is_int

__all__ = ["TrainSpec"]


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """RL settings (``train:`` in the Hydra config): the embedded default experiment's values, the one
    place they live (``core.config.register_configs`` stores this class as the ``train`` node; a preset
    in ``sweeps/preset/`` overrides only what differs). 60 RL steps of 8 prompts x 8 responses, 2
    optimizer mini-batches per step (the paper's 256 / 128 ratio)."""

    steps: int = 60                # RL steps (one rollout batch each)
    batch_prompts: int = 8         # prompts per step (the paper: 256)
    group_size: int = 8            # responses per prompt (the paper: n = 8)
    mini_batch_prompts: int = 4    # prompts per optimizer mini-batch (the paper: 128 = batch / 2)
    # AdamW learning rate (the paper: 1e-6 for 1.5B-14B models). A single-seed GRPO probe on this model
    # (docs/embedded.md): 5e-5 and 1e-4 both raise mean pass@1 (0.43 -> 0.60 / 0.64 in 60 steps); 1e-4
    # moves the policy's entropy further (0.187 -> 0.14), so the methods have a collapse to act on
    lr: float = 1e-4
    weight_decay: float = 0.01     # AdamW's decoupled weight decay
    grad_clip: float = 1.0         # gradient-norm clip (verl's default)
    # response budget of rollouts (tokens; a correct synth_6 solution needs at most 87, with </s>)
    max_response_len: int = 96
    log_every: int = 5             # token_stats.jsonl every this many steps
    checkpoint_every: int = 10     # checkpoint every this many steps (and at evaluation steps)
    # the update's forward pass runs on this many length-sorted groups of rows (less padding; speed
    # only: the loss is computed once over the whole mini-batch)
    length_buckets: int = 4

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any]) -> "TrainSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(cfg) - names)
        if unknown:
            raise ValueError(f"unknown train.* key(s) {unknown}; valid: {sorted(names)}")
        spec = cls(**dict(cfg))
        spec.validate()
        return spec

    def validate(self) -> None:
        p = count_problems(self, ("steps", "batch_prompts", "mini_batch_prompts", "max_response_len", "log_every",
                                  "checkpoint_every", "length_buckets"), "train")
        if not is_int(self.group_size):
            p += count_problems(self, ("group_size",), "train")
        elif self.group_size < 2:
            p.append(f"train.group_size={self.group_size} must be >= 2 (GRPO's group advantage of a single "
                     "response is always 0: nothing would be learned)")
        if not p and self.batch_prompts % self.mini_batch_prompts:
            p.append(f"train.mini_batch_prompts={self.mini_batch_prompts} must divide "
                     f"train.batch_prompts={self.batch_prompts}")
        if not self.lr > 0:
            p.append(f"train.lr={self.lr} must be > 0")
        if not (isinstance(self.grad_clip, (int, float)) and 0 < self.grad_clip < float("inf")):
            p.append(f"train.grad_clip={self.grad_clip} must be a finite number > 0 (a negative max norm flips the "
                     "gradient, 0 stops learning)")
        if p:
            raise ValueError("; ".join(p))
