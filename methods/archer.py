"""Archer: dual-token constraints (Wang et al. 2025, "Stabilizing Knowledge, Promoting Reasoning:
Dual-Token Constraints for RLVR", arXiv 2507.15778, §3; reference code: the ArcherCodeR repository,
``verl/workers/actor/dp_actor.py`` and ``verl/trainer/ppo/core_algos.py::compute_policy_loss`` with
``use_token_entropy_separate=True``).

Tokens are split by a **response-level** entropy quantile: within each response, tokens with
entropy above its ``entropy_quantile`` (0.8) quantile are high-entropy ("reasoning") tokens, the rest
low-entropy ("knowledge") tokens. The two classes get their own constraints::

    L = agg(PPO_c(A; eps_low_tok, eps_high_tok))                      # per-token clip range by class
        + kl_coef      * agg_{low}(KL(pi || pi_ref))                  # strong KL on low-entropy tokens
        + high_kl_coef * agg_{high}(KL(pi || pi_ref))                 # weak (0) KL on high-entropy tokens

where ``PPO_c`` is verl's clipped surrogate with dual clip ``c`` and ``agg_{S}`` aggregates over the
tokens of class S only (their own denominator, as the reference code's ``agg_loss(kld, class_mask)``).

As the reference code: the quantile is ``torch.nanquantile`` (linear interpolation) of the current
pass's detached entropy over each response's valid tokens; "low" is ``H <= q``, "high" is ``H > q``;
the class split is made per loss call (micro-batch) from the current entropy. Defaults are the
ArcherCodeR training script's (``run_archer_qwen2.5_1.5b_code.sh``): quantile 0.8, low-entropy clip
0.2/0.2, high-entropy clip 0.5/0.5, ``kl_loss_coef`` 0.001 (low_var_kl) on low-entropy tokens,
``high_entropy_kl_loss_scale_coef`` 0.0, ``clip_ratio_c`` 10. Deviation: with verl's global-batch
normalisation the per-class KL means are weighted by the loss call's share of the mini-batch
(``aggregate_selected(..., 'selected')``); with one micro-batch this is the reference exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from methods.base import LossMethod, LossOutput, PolicyBatch, RefKLParams, hp
from methods.common import masked_mean, ref_kl_term
from methods.registry import register

_SCRIPT = "ArcherCodeR run_archer_qwen2.5_1.5b_code.sh"


@dataclass(frozen=True)
class ArcherParams(RefKLParams):
    entropy_quantile: float = hp(0.8, f"Archer (arXiv 2507.15778) §3: top 20% entropy = high; {_SCRIPT} "
                                 "token_entropy_quantile=0.8", "per-response entropy quantile splitting the classes",
                                 gt=0.0, le=1.0)
    low_clip_ratio_low: float = hp(0.2, f"{_SCRIPT} low_entropy_clip_ratio_low=0.2",
                                   "lower clip epsilon of low-entropy tokens", ge=0.0, lt=1.0)
    low_clip_ratio_high: float = hp(0.2, f"{_SCRIPT} low_entropy_clip_ratio_high=0.2",
                                    "upper clip epsilon of low-entropy tokens", ge=0.0)
    high_clip_ratio_low: float = hp(0.5, f"{_SCRIPT} high_entropy_clip_ratio_low=0.5",
                                    "lower clip epsilon of high-entropy tokens", ge=0.0, lt=1.0)
    high_clip_ratio_high: float = hp(0.5, f"{_SCRIPT} high_entropy_clip_ratio_high=0.5",
                                     "upper clip epsilon of high-entropy tokens", ge=0.0)
    clip_ratio_c: float = hp(10.0, f"{_SCRIPT} clip_ratio_c=10.0", "dual-clip bound for negative advantages", gt=1.0)
    kl_coef: float = hp(0.001, f"Archer §3 (KL on low-entropy tokens); {_SCRIPT} kl_loss_coef=0.001",
                        "KL(pi || pi_ref) coefficient on low-entropy tokens", ge=0.0)
    high_kl_coef: float = hp(0.0, f"Archer §3 (no KL on high-entropy tokens); {_SCRIPT} "
                             "high_entropy_kl_loss_scale_coef=0.0", "KL coefficient on high-entropy tokens", ge=0.0)


def response_quantile_split(entropy: torch.Tensor, mask: torch.Tensor, q: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(low, high) bool ``[B, T]``: per response, ``H <= quantile_q(H)`` and ``H > quantile_q(H)``."""
    h = torch.where(mask, entropy.detach(), torch.full_like(entropy, float("nan")))         # [B, T]
    thr = torch.nanquantile(h, q, dim=-1, keepdim=True)                                   # [B, 1]
    return mask & (h <= thr), mask & (h > thr)


@register
class Archer(LossMethod):
    name = "archer"
    label = "Archer"
    params_cls = ArcherParams
    paper = "Wang et al. 2025 (arXiv 2507.15778) Archer, dual-token constraints §3"
    needs_entropy = True

    def requires_ref(self) -> bool:
        return self.params.kl_coef > 0 or self.params.high_kl_coef > 0

    def compute(self, batch: PolicyBatch) -> LossOutput:
        p = self.params
        m = batch.mask
        low, high = response_quantile_split(batch.entropy, m, p.entropy_quantile)          # [B, T] each
        adv = batch.advantages
        log_ratio = torch.clamp(batch.log_prob - batch.old_log_prob, min=-20.0, max=20.0)
        ratio = torch.exp(log_ratio)                                                        # [B, T]
        clipped_r = torch.where(low, torch.clamp(ratio, 1 - p.low_clip_ratio_low, 1 + p.low_clip_ratio_high),
                                torch.clamp(ratio, 1 - p.high_clip_ratio_low, 1 + p.high_clip_ratio_high))
        pg1, pg2 = -adv * ratio, -adv * clipped_r                                           # [B, T]
        clipped = torch.maximum(pg1, pg2)
        dual = torch.minimum(-adv * p.clip_ratio_c, clipped)
        pg_mat = torch.where(adv < 0, dual, clipped)                                        # [B, T]
        loss = batch.aggregate(pg_mat, p.loss_agg_mode)
        metrics = {"train/pg_loss": float(masked_mean(pg_mat.detach(), m)),
                   "method/high_entropy_frac": float(masked_mean(high.float(), m)),
                   "method/ppo_clipfrac": float(masked_mean((pg2 > pg1).float(), m)),
                   "method/ppo_kl": float(masked_mean(-log_ratio.detach(), m))}
        if p.kl_coef > 0 or p.high_kl_coef > 0:
            kl = ref_kl_term(batch, p)                                                      # [B, T]
            for coef, cls, key in ((p.kl_coef, low, "low"), (p.high_kl_coef, high, "high")):
                if coef > 0:
                    loss = loss + coef * batch.aggregate_selected(kl, p.loss_agg_mode, cls, "selected")
                metrics[f"method/kl_{key}_entropy"] = float(masked_mean(kl.detach(), cls))
            metrics["train/kl"] = float(masked_mean(kl.detach(), m))
        return LossOutput(loss, metrics)
