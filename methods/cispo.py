"""CISPO: clipped importance-sampling-weight policy optimisation (MiniMax 2025, "MiniMax-M1",
arXiv 2506.13585, §3.1, Eq. 4-5).

Instead of dropping the gradient of tokens whose ratio leaves the trust region (PPO), CISPO clips
the importance-sampling weight itself and stops its gradient, so every token keeps a gradient::

    J = E[ 1 / sum_i |o_i| * sum_i sum_t sg(r_hat_it) A_it log pi_theta(o_it) ]
    r_hat_it = clip(r_it, 1 - eps_low, 1 + eps_high)

i.e. the loss ``-sg(r_hat) A log pi`` per token, ``token-mean`` (the paper's 1/sum|o_i|), no KL term.

Defaults: ``eps_low = 1`` (the paper: "we did not impose a lower bound on the IS weight by setting
eps_low to a large value"; 1 makes the bound ``r >= 0``, which every ratio meets).
``eps_high`` is **an assumption**: the paper says only that it was tuned and does not print the
value; we take 0.28 (DAPO's clip-higher epsilon, also Trinity-RFT's CISPO default).
As verl 0.9.1's ``compute_policy_loss_cispo`` (tested for parity in float64, loss and gradient):
the log-ratio is clamped to +-20 before ``exp``; the loss value is ``-sg(clip r) A log pi``
(not a ratio), so ``train/loss`` is not comparable in level with the PPO-style methods.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from methods.base import LossMethod, LossOutput, MethodParams, PolicyBatch, hp
from methods.common import masked_mean
from methods.registry import register


@dataclass(frozen=True)
class CISPOParams(MethodParams):
    clip_ratio_low: float = hp(1.0, "MiniMax-M1 (arXiv 2506.13585) §3.1: no lower bound on the IS weight "
                               "(eps_low 'large'; 1 already bounds r >= 0)", "lower IS-weight clip epsilon",
                               ge=0.0, le=1.0)
    clip_ratio_high: float = hp(0.28, "assumption: MiniMax-M1 tunes eps_high without printing it; DAPO's 0.28 "
                                "(Trinity-RFT's CISPO default)", "upper IS-weight clip epsilon", ge=0.0)


@register
class CISPO(LossMethod):
    name = "cispo"
    label = "CISPO"
    params_cls = CISPOParams
    paper = "MiniMax 2025 (arXiv 2506.13585) MiniMax-M1 CISPO, Eq. 4-5"
    needs_entropy = False

    def compute(self, batch: PolicyBatch) -> LossOutput:
        p = self.params
        log_ratio = torch.clamp(batch.log_prob - batch.old_log_prob, min=-20.0, max=20.0)   # [B, T]
        ratio = torch.exp(log_ratio)                                                          # [B, T]
        w = torch.clamp(ratio, 1 - p.clip_ratio_low, 1 + p.clip_ratio_high).detach()          # [B, T] sg(r_hat)
        lp = torch.where(batch.mask, batch.log_prob, torch.zeros_like(batch.log_prob))        # padding: 0, no grad
        pg_mat = -w * batch.advantages * lp                                                   # [B, T]
        loss = batch.aggregate(pg_mat, p.loss_agg_mode)
        m = batch.mask
        metrics = {"train/pg_loss": float(masked_mean(pg_mat.detach(), m)),
                   "method/is_clipfrac": float(masked_mean((ratio != w).float(), m)),
                   "method/ppo_kl": float(masked_mean(-log_ratio.detach(), m))}
        return LossOutput(loss, metrics)
