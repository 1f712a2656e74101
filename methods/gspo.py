"""GSPO: Group Sequence Policy Optimization (Zheng et al. 2025, arXiv 2507.18071, Eq. 5-7 and §4.3).

The importance ratio is the length-normalised sequence likelihood ratio (Eq. 7)::

    s_i(theta) = (pi_theta(y_i|x) / pi_old(y_i|x)) ** (1/|y_i|) = exp(1/|y_i| sum_t log r_it)

clipped per sequence (Eq. 5): ``J = E[ 1/G sum_i min(s_i A_i, clip(s_i, 1-eps_l, 1+eps_h) A_i) ]``.
The token-level form (GSPO-token, Eq. 13-14), which verl implements, carries the same value and
gradient: ``s_it = sg[s_i] * pi_theta(y_it) / sg[pi_theta(y_it)]``, so every token of a sequence has
the value ``s_i`` and the gradient ``s_i grad log pi(y_it)``; with ``seq-mean-token-mean`` the loss
is ``1/G sum_i 1/|y_i| sum_t (...)`` = Eq. 5 (a per-sequence mean of identical values).

Defaults: eps 3e-4 / 4e-4 (§5.1: "left and right clipping ranges 3e-4 and 4e-4"),
``seq-mean-token-mean`` (the paper's sequence-level objective; verl's gspo recipe), no KL term
(the paper's objective has none). As verl 0.9.1's ``compute_policy_loss_gspo`` (tested for
parity in float64, loss and gradient): the log of the combined ratio is clamped at 10 from above,
and there is no dual clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from methods.base import AGG_MODES, LossMethod, LossOutput, MethodParams, PolicyBatch, hp
from methods.common import masked_mean
from methods.registry import register


@dataclass(frozen=True)
class GSPOParams(MethodParams):
    loss_agg_mode: str = hp("seq-mean-token-mean", "GSPO (arXiv 2507.18071) Eq. 5: 1/G sum over sequences; verl "
                            "recipe/gspo loss_agg_mode=seq-mean-token-mean",
                            "how per-token losses become a scalar (verl agg_loss)", choices=AGG_MODES)
    clip_ratio_low: float = hp(3e-4, "GSPO (arXiv 2507.18071) §5.1: left clipping range 3e-4",
                               "lower clip epsilon of the sequence ratio", ge=0.0, lt=1.0)
    clip_ratio_high: float = hp(4e-4, "GSPO (arXiv 2507.18071) §5.1: right clipping range 4e-4",
                                "upper clip epsilon of the sequence ratio", ge=0.0)


def sequence_ratio(batch: PolicyBatch) -> torch.Tensor:
    """``s_it = sg[s_i] * pi/sg[pi]`` per token ``[B, T]`` (value ``s_i``, gradient through log pi_it)."""
    m = batch.mask
    neg_kl = batch.log_prob - batch.old_log_prob                                  # [B, T]
    lengths = m.sum(-1).clamp(min=1)                                              # [B]
    log_s = torch.where(m, neg_kl, torch.zeros_like(neg_kl)).sum(-1) / lengths    # [B] (1/|y|) sum log r
    log_st = batch.log_prob - batch.log_prob.detach() + log_s.detach().unsqueeze(-1)  # [B, T]
    return torch.exp(torch.clamp(log_st, max=10.0))                               # [B, T]


@register
class GSPO(LossMethod):
    name = "gspo"
    label = "GSPO"
    params_cls = GSPOParams
    paper = "Zheng et al. 2025 (arXiv 2507.18071) GSPO, Eq. 5-7, 13-14"
    needs_entropy = False

    def compute(self, batch: PolicyBatch) -> LossOutput:
        p = self.params
        s = sequence_ratio(batch)                                                  # [B, T]
        adv = batch.advantages
        pg1 = -adv * s                                                             # [B, T]
        pg2 = -adv * torch.clamp(s, 1 - p.clip_ratio_low, 1 + p.clip_ratio_high)  # [B, T]
        pg_mat = torch.maximum(pg1, pg2)                                           # [B, T]
        loss = batch.aggregate(pg_mat, p.loss_agg_mode)
        m = batch.mask
        metrics = {"train/pg_loss": float(masked_mean(pg_mat.detach(), m)),
                   "method/seq_clipfrac": float(masked_mean((pg2 > pg1).float(), m)),
                   "method/ppo_kl": float(masked_mean(-(batch.log_prob - batch.old_log_prob).detach(), m))}
        return LossOutput(loss, metrics)
