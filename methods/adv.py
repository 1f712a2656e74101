"""w/ Adv (Cheng et al. 2025, "Reasoning with Exploration: An Entropy Perspective"; SENT App. C-3).

    psi(H_t) = min(alpha * H_t.detach(), |A_t| / kappa),   A_t' = A_t + psi(H_t)

then the clipped surrogate on A'. Because kappa > 1 the sign of A is preserved; A = 0 gets no bonus.
No official code exists. Open choice, made a parameter: which forward pass supplies H
(``entropy_source``): ``current`` (the update's own forward pass, detached; default, as the
formula's H^detach suggests) or ``rollout`` (the rollout policy's entropy).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from methods.base import ConfigError, LossMethod, LossOutput, PolicyBatch, hp
from methods.common import masked_mean
from methods.grpo import GRPOParams, grpo_terms
from methods.registry import register


@dataclass(frozen=True)
class AdvParams(GRPOParams):
    alpha: float = hp(0.4, "SENT App. C-3 (following Cheng et al.)", "scale of the entropy term in psi", ge=0.0)
    kappa: float = hp(2.0, "SENT App. C-3 (following Cheng et al.)", "psi is capped at |A| / kappa", gt=1.0)
    kl_coef: float = hp(0.0, "SENT App. C-3: 'we set the KL loss coefficient to 0'", "coefficient of KL(pi || pi_ref)",
                        ge=0.0)
    entropy_source: str = hp("current", "assumption: the paper's H^detach reads as the update pass, detached",
                             "'current' (update forward pass) or 'rollout' (rollout policy) entropy",
                             choices=("current", "rollout"))


@register
class Adv(LossMethod):
    name = "adv"
    label = "w/ Adv"
    params_cls = AdvParams
    selection_metrics = ("method/psi_capped_frac",)
    paper_order = 2
    color = "#8c564b"
    paper = "Cheng et al. 2025 (arXiv 2506.14758); SENT App. C-3"

    def compute(self, batch: PolicyBatch) -> LossOutput:
        p = self.params
        if p.entropy_source == "rollout":
            if batch.old_entropy is None:
                raise ConfigError("adv.entropy_source='rollout' needs the rollout entropy in the batch "
                                  "(old_entropy); use entropy_source='current'")
            h = batch.old_entropy.detach()                                   # [B, T]
        else:
            h = batch.entropy.detach()                                       # [B, T]
        a = batch.advantages                                                  # [B, T]
        psi = torch.minimum(p.alpha * h, a.abs() / p.kappa)                  # [B, T]
        shaped = a + psi                                                      # [B, T]
        loss, metrics = grpo_terms(batch, p, advantages=shaped)
        metrics["method/psi_mean"] = float(masked_mean(psi, batch.mask))
        metrics["method/psi_capped_frac"] = float(masked_mean((p.alpha * h >= a.abs() / p.kappa).float(), batch.mask))
        return LossOutput(loss, metrics)
