"""w/ En (SENT App. C-2): J_GRPO + lambda * E[H_t], verl's token-mean entropy bonus.

The gradient flows through H (as verl's ``entropy_coeff``). The entropy term uses the same
``loss_agg_mode`` as the policy term, so its scale does not depend on sequence length.
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.base import LossMethod, LossOutput, PolicyBatch, hp
from methods.grpo import GRPOParams, grpo_terms
from methods.registry import register


@dataclass(frozen=True)
class EnParams(GRPOParams):
    entropy_coef: float = hp(0.001, "SENT Table X: entropy coefficient, w/ entropy loss", "lambda of the entropy bonus",
                             ge=0.0)
    kl_coef: float = hp(0.001, "assumption: App. C-2 writes J_En = J_GRPO + ..., and J_GRPO carries Table X's 0.001",
                        "coefficient of KL(pi || pi_ref)", ge=0.0)


@register
class En(LossMethod):
    name = "en"
    label = "w/ En"
    params_cls = EnParams
    paper_order = 1
    color = "#ff7f0e"
    scale_rules = {"entropy_coef": "E"}
    scale_probe = "g_h"  # the token-mean entropy: rule E's lambda
    paper = "Haarnoja et al. 2018 (max-entropy RL), as VeRL's entropy_coeff; SENT App. C-2"

    def compute(self, batch: PolicyBatch) -> LossOutput:
        p = self.params
        loss, metrics = grpo_terms(batch, p)
        ent = batch.aggregate(batch.entropy, p.loss_agg_mode)                 # [] with grad
        return LossOutput(loss - p.entropy_coef * ent, metrics)
