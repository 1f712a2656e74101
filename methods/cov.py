"""w/ Cov: KL-Cov (Cui et al. 2025; SENT App. C-6).

Mirrors verl 0.9.1's ``kl_cov``: every token gets the unclipped ``-A r``; the
``max(1, int(cov_frac * n_valid))`` tokens with the largest Cov_t (Eq. 12, centred over the loss
call's valid tokens) additionally get ``penalty_coef * |log pi - log pi_old|`` (a penalty against
the *old* policy, as the code and the paper's KL(pi_old || pi_theta)). Defaults follow the paper:
``cov_frac = 2e-4`` for every model size and ``penalty_coef = 1.0`` (Table X; the recipe's value;
verl's YAML default of 0.1 is not used). On the first mini-batch after a rollout lp == old and the
|.| term has zero gradient (PRIME-RL#1).
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.base import LossMethod, LossOutput, PolicyBatch, RefKLParams, SelectionParams, hp
from methods.common import add_ref_kl, covariance, masked_mean, top_frac_mask, unclipped_surrogate
from methods.registry import register


@dataclass(frozen=True)
class KLCovParams(RefKLParams, SelectionParams):
    cov_frac: float = hp(2e-4, "SENT App. C-6: k = 0.0002 (verl kl_cov_ratio; the 7B recipe uses 2e-3)",
                         "fraction of tokens (top covariance) that get the penalty", gt=0.0, le=1.0)
    count_rounding: str = hp("floor", "reference code: max(1, int(frac * n)); 'expected' keeps the share of tokens at "
                             "any loss-call size (docs/calibration.md, rule F)",
                             "how cov_frac becomes a token count: 'floor' (at least 1) or 'expected' (stochastic)",
                             choices=("floor", "expected"))
    penalty_coef: float = hp(1.0, "SENT Table X: kl loss coefficient 1.0 for w/ Cov; verl-recipe ppo_kl_coef=1",
                             "beta of |log pi - log pi_old| on the selected tokens", ge=0.0)
    kl_coef: float = hp(0.0, "SENT App. C-6 has no reference KL; the recipes set use_kl_loss=False",
                        "coefficient of KL(pi || pi_ref) on all tokens", ge=0.0)


@register
class Cov(LossMethod):
    name = "cov"
    label = "w/ Cov"
    params_cls = KLCovParams
    uses_covariance = True
    selection_metrics = ("method/penalised_frac",)
    paper_order = 5
    color = "#17becf"
    scale_rules = {"cov_frac": "F"}
    paper = "Cui et al. 2025 (arXiv 2505.22617) KL-Cov; SENT App. C-6"
    needs_entropy = False

    def selection_keys(self):
        return ("penalised",)

    def select(self, batch: PolicyBatch):
        cov = covariance(batch.log_prob, batch.advantages, batch.mask)        # [B, T]
        return {"penalised": top_frac_mask(cov, batch.mask, self.params.cov_frac, self.params.count_rounding)}

    def compute(self, batch: PolicyBatch) -> LossOutput:
        p = self.params
        sel = self.selections(batch)["penalised"]                             # [B, T] bool
        pg_mat, abs_kl = unclipped_surrogate(batch)                           # [B, T], [B, T]
        pg = batch.aggregate(pg_mat, p.loss_agg_mode)
        pen = batch.aggregate_selected(abs_kl, p.loss_agg_mode, sel, p.denominator)
        loss = pg + p.penalty_coef * pen
        metrics = {"train/pg_loss": float(masked_mean(pg_mat.detach(), batch.mask)),
                   "method/cov_penalty": float(masked_mean(abs_kl.detach(), sel & batch.mask)),
                   "method/penalised_frac": float(masked_mean(sel.float(), batch.mask)),
                   "method/ppo_kl": float(masked_mean(abs_kl.detach(), batch.mask))}
        loss = add_ref_kl(batch, p, loss, metrics)
        return LossOutput(loss, metrics)
