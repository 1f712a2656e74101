"""Clip-Higher: DAPO's decoupled clip (Yu et al. 2025, "DAPO", arXiv 2503.14476, §3.1 and Eq. 8).

DAPO's objective, token-level (Eq. 8, "token-level policy gradient loss", §3.3)::

    J = E[ 1 / sum_i |o_i| * sum_i sum_t min(r_it A_it, clip(r_it, 1 - eps_low, 1 + eps_high) A_it) ]

with ``eps_low = 0.2`` and ``eps_high = 0.28`` (§3.1: raising only the upper bound leaves room for
low-probability tokens to grow, which keeps entropy from collapsing) and no KL term (§2.3 removes it).
``token-mean`` over all response tokens of the mini-batch is DAPO's token-level aggregation.

Only the clip is implemented: dynamic sampling (§3.2) is a data-level filter, and overlong
shaping (§3.4) is a reward change; neither is a loss. Deviation: verl's dual clip at
``clip_ratio_c`` for A < 0 stays on (verl's DAPO recipe sets 10; DAPO's Eq. 8 has none).
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.base import ClipParams, LossMethod, LossOutput, PolicyBatch, hp
from methods.common import clipped_surrogate, masked_mean
from methods.registry import register


@dataclass(frozen=True)
class ClipHigherParams(ClipParams):
    clip_ratio_low: float = hp(0.2, "DAPO (arXiv 2503.14476) §3.1 / §4.1: eps_low = 0.2",
                               "lower clip epsilon: ratio >= 1 - eps_low", ge=0.0, lt=1.0)
    clip_ratio_high: float = hp(0.28, "DAPO (arXiv 2503.14476) §3.1 / §4.1: eps_high = 0.28",
                                "upper clip epsilon: ratio <= 1 + eps_high", ge=0.0)
    clip_ratio_c: float = hp(10.0, "verl recipe/dapo (run_dapo_qwen2.5_32b.sh) clip_ratio_c=10.0; DAPO Eq. 8 has "
                             "no dual clip", "dual-clip bound for negative advantages", gt=1.0)


@register
class ClipHigher(LossMethod):
    name = "clip_higher"
    label = "Clip-Higher (DAPO)"
    params_cls = ClipHigherParams
    paper = "Yu et al. 2025 (arXiv 2503.14476) DAPO Clip-Higher, Eq. 8"
    needs_entropy = False

    def compute(self, batch: PolicyBatch) -> LossOutput:
        p = self.params
        pg_mat, metrics = clipped_surrogate(batch, p)                          # [B, T]
        loss = batch.aggregate(pg_mat, p.loss_agg_mode)                        # token-mean: DAPO's token level
        metrics["train/pg_loss"] = float(masked_mean(pg_mat.detach(), batch.mask))
        return LossOutput(loss, metrics)
