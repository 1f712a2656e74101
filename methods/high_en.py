"""w/ High_En (SENT App. C-7): J_GRPO + lambda * sum_{i,t} 1[H_t >= tau] H_t.

No code was released. Open choices, made parameters:
- tau: the paper gives none. Default: a quantile, the top ``high_entropy_frac`` = 20% of tokens by
  entropy (the authors' script is named ``run_20highentropy_entropyloss.sh``). Setting
  ``entropy_threshold`` to a number uses that absolute tau (nats) instead.
- the normaliser: the paper writes a sum; we aggregate like w/ En (verl token-mean over all response
  tokens, ``denominator='all'``) so lambda = 0.001 means the same as for En and does not scale with
  batch size; ``denominator='selected'`` averages over the selected tokens only.
- the gradient flows through H, as for w/ En; the selection itself is detached.
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.base import LossMethod, LossOutput, PolicyBatch, SelectionParams, hp
from methods.common import masked_mean, top_frac_mask
from methods.grpo import GRPOParams, grpo_terms
from methods.registry import register


@dataclass(frozen=True)
class HighEnParams(GRPOParams, SelectionParams):
    entropy_coef: float = hp(0.001, "SENT Table X: entropy coefficient, w/ entropy loss (App. D-1 names High_En)",
                             "lambda of the high-entropy bonus", ge=0.0)
    high_entropy_frac: float = hp(0.2, "assumption: tau as the top-20% quantile (script run_20highentropy*.sh)",
                                  "fraction of highest-entropy tokens that get the bonus", gt=0.0, le=1.0)
    entropy_threshold: float | None = hp(None, "assumption: the paper gives no tau; None = use high_entropy_frac",
                                         "absolute tau in nats (overrides high_entropy_frac when set)", ge=0.0)
    kl_coef: float = hp(0.001, "assumption: App. C-7 writes J_GRPO + ..., and J_GRPO carries Table X's 0.001",
                        "coefficient of KL(pi || pi_ref)", ge=0.0)


@register
class HighEn(LossMethod):
    name = "high_en"
    label = "w/ High_En"
    params_cls = HighEnParams
    selection_metrics = ("method/high_frac",)
    paper_order = 6
    color = "#bcbd22"
    scale_rules = {"entropy_coef": "E"}
    scale_probe = "g_high"
    scale_note = ("High_En takes En's lambda (the paper uses one entropy coefficient, Table X); at this lambda its bonus\n"
                  "(top-20% entropy tokens) has ||lambda g_high|| / ||g_pg|| = {high_en_ratio_at_lambda:.3f}.")
    paper = "SENT App. C-7 (no reference code)"

    def selection_keys(self):
        return ("high",)

    def select(self, batch: PolicyBatch):
        p = self.params
        h = (batch.entropy if batch.entropy is not None else batch.old_entropy).detach()
        if p.entropy_threshold is not None:
            return {"high": (h >= p.entropy_threshold) & batch.mask}
        return {"high": top_frac_mask(h, batch.mask, p.high_entropy_frac, rounding="ceil")}

    def compute(self, batch: PolicyBatch) -> LossOutput:
        p = self.params
        high = self.selections(batch)["high"]                                 # [B, T] bool
        loss, metrics = grpo_terms(batch, p)
        bonus = batch.aggregate_selected(batch.entropy, p.loss_agg_mode, high, p.denominator)  # [] with grad
        metrics["method/high_frac"] = float(masked_mean(high.float(), batch.mask))
        metrics["method/high_entropy_mean"] = float(masked_mean(batch.entropy.detach(), high & batch.mask))
        return LossOutput(loss - p.entropy_coef * bonus, metrics)
