"""w/ Low (SENT Table IX ablation): the low-entropy KL constraint alone, no covariance split, no
curriculum. Every token of T_low (the ``low_entropy_frac`` lowest-entropy tokens) gets
``beta * KL(pi || pi_ref)``, other tokens none. The paper does not give this ablation's beta;
we use beta_low = 0.5 (assumption), so ``low`` differs from ``low_cov`` only on T_high-cov.
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.base import PolicyBatch, SelectionParams, hp
from methods.common import bottom_frac_mask
from methods.grpo import GRPOParams
from methods.registry import register
from methods.sent import _TokenKLMethod


@dataclass(frozen=True)
class LowParams(GRPOParams, SelectionParams):
    low_entropy_frac: float = hp(0.8, "SENT Table VII default 'en: 80%'", "fraction of lowest-entropy tokens (T_low)",
                                 gt=0.0, le=1.0)
    beta: float = hp(0.5, "assumption: SENT's beta_low (§V-A); Table IX does not state w/ Low's beta",
                     "KL weight on T_low", ge=0.0)
    kl_coef: float = hp(1.0, "SENT Table X: kl loss coefficient 1.0 for w/ SENT", "multiplies beta * KL", ge=0.0)


@register
class Low(_TokenKLMethod):
    name = "low"
    label = "w/ Low"
    params_cls = LowParams
    selection_metrics = ("method/low_frac",)
    color = "#1f77b4"
    paper = "SENT Table IX ablation (w/ Low)"

    def selection_keys(self):
        return ("low",)

    def select(self, batch: PolicyBatch):
        h = (batch.entropy if batch.entropy is not None else batch.old_entropy).detach()
        return {"low": bottom_frac_mask(h, batch.mask, self.params.low_entropy_frac)}

    def weights(self, sel):
        return sel["low"].float() * self.params.beta
