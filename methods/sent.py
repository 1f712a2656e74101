"""SENT as the paper describes it (Section IV-B, Eq. 11-15), token-level part.

- T_low: the ``low_entropy_frac`` (paper "en" = 80%) lowest-entropy response tokens (Eq. 11, with
  tau_H read as a ratio, as the released code does: ``max(1, int(0.8 n))`` tokens by ``topk``).
- Cov_t from Eq. 12, centred over all tokens of the selection scope ("a batch of rollout tokens").
- T_high-cov: within T_low, the ``high_cov_frac`` (paper "cov" = 0.0002) highest-covariance tokens
  (Eq. 13, tau_cov read as a top-k fraction of |T_low| as the released code does; at least one).
- beta_con = beta_high on T_high-cov, beta_low on T_low minus T_high-cov, 0 elsewhere (Eq. 14).
- Loss (Eq. 15): clipped surrogate + kl_coef * agg(beta_con * KL(pi || pi_ref)), KL to the frozen
  *reference* with verl's ``low_var_kl`` (k3), aggregated over all response tokens (1/|o| sum_t).
  ``kl_coef = 1.0`` is Table X's "kl loss coefficient" for SENT, so the effective per-token weights
  are 2 and 0.5 (the released code instead uses 0.1 x {2, 0.5} on |lp - old|: ``sent_released``).

The semantic-entropy curriculum is the other half of SENT; ``method=sent`` turns it on by default
(``default_curriculum``). ``low_cov`` is this loss without the curriculum (Table IX).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from methods.base import LossMethod, LossOutput, PolicyBatch, SelectionParams, hp
from methods.common import bottom_frac_mask, clipped_surrogate, covariance, masked_mean, ref_kl_term, top_frac_mask
from methods.grpo import GRPOParams
from methods.registry import register


@dataclass(frozen=True)
class SentParams(GRPOParams, SelectionParams):
    low_entropy_frac: float = hp(0.8, "SENT Table VII default 'en: 80%'; §IV-B citing the 80/20 rule",
                                 "fraction of lowest-entropy tokens forming T_low (Eq. 11)", gt=0.0, le=1.0)
    high_cov_frac: float = hp(2e-4, "SENT Table VII default 'cov: 0.0002' (released code: kl_cov_ratio)",
                              "fraction of T_low with the highest covariance forming T_high-cov (Eq. 13)",
                              gt=0.0, le=1.0)
    count_rounding: str = hp("floor", "reference code: max(1, int(frac * n)); 'expected' keeps the share of tokens at "
                             "any loss-call size (docs/calibration.md, rule F)",
                             "how high_cov_frac becomes a token count: 'floor' (at least 1) or 'expected' (stochastic)",
                             choices=("floor", "expected"))
    beta_low: float = hp(0.5, "SENT §V-A: beta_low is 0.5", "KL weight on T_low minus T_high-cov (Eq. 14)", ge=0.0)
    beta_high: float = hp(2.0, "SENT §V-A: beta_high is 2", "KL weight on T_high-cov (Eq. 14)", ge=0.0)
    kl_coef: float = hp(1.0, "SENT Table X: kl loss coefficient 1.0 for w/ SENT", "multiplies beta_con * KL", ge=0.0)


def sent_weights(low: torch.Tensor, high: torch.Tensor, beta_low: float, beta_high: float) -> torch.Tensor:
    """beta_con of Eq. 14 as a ``[B, T]`` float matrix."""
    w = torch.zeros(low.shape, dtype=torch.float32, device=low.device)        # [B, T]
    w[low] = beta_low
    w[high & low] = beta_high
    return w


class _TokenKLMethod(LossMethod):
    """Clipped surrogate + kl_coef * agg(beta_con * KL(pi || pi_ref)) with beta_con from selections."""

    needs_ref = True

    def weights(self, sel: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def compute(self, batch: PolicyBatch) -> LossOutput:
        p = self.params
        sel = self.selections(batch)
        w = self.weights(sel).to(batch.log_prob.dtype)                        # [B, T]
        pg_mat, metrics = clipped_surrogate(batch, p)                         # [B, T]
        pg = batch.aggregate(pg_mat, p.loss_agg_mode)
        kl_mat = ref_kl_term(batch, p)                                         # [B, T]
        wkl = batch.aggregate_selected(w * kl_mat, p.loss_agg_mode, w > 0, p.denominator)
        metrics.update({
            "train/pg_loss": float(masked_mean(pg_mat.detach(), batch.mask)),
            "train/kl": float(masked_mean(kl_mat.detach(), batch.mask)),
            "method/weighted_kl": float(masked_mean((w * kl_mat).detach(), batch.mask)),
            "method/low_frac": float(masked_mean(sel["low"].float(), batch.mask)),
        })
        if "high" in sel:
            metrics["method/high_cov_frac"] = float(masked_mean((sel["high"] & sel["low"]).float(), batch.mask))
        return LossOutput(pg + p.kl_coef * wkl, metrics)


@register
class Sent(_TokenKLMethod):
    name = "sent"
    label = "w/ SENT"
    params_cls = SentParams
    uses_covariance = True
    selection_metrics = ("method/low_frac", "method/high_cov_frac")
    paper_order = 7
    color = "#d62728"
    scale_rules = {"high_cov_frac": "F/low_entropy_frac"}
    paper = "SENT (arXiv 2512.04359) §IV-B Eq. 11-15 + §IV-A curriculum"
    default_curriculum = "semantic_entropy"

    def selection_keys(self):
        return ("low", "high")

    def select(self, batch: PolicyBatch):
        p = self.params
        h = (batch.entropy if batch.entropy is not None else batch.old_entropy).detach()
        low = bottom_frac_mask(h, batch.mask, p.low_entropy_frac)             # [B, T]
        cov = covariance(batch.log_prob, batch.advantages, batch.mask)        # [B, T] centred over all tokens
        high = top_frac_mask(cov, low, p.high_cov_frac, p.count_rounding)   # [B, T], subset of low
        return {"low": low, "high": high}

    def weights(self, sel):
        return sent_weights(sel["low"], sel["high"], self.params.beta_low, self.params.beta_high)


@register
class LowCov(Sent):
    """w/ Low_Cov (Table IX): SENT's token loss without the curriculum (= Table VI 'No Curriculum')."""

    name = "low_cov"
    label = "w/ Low_Cov"
    paper_order = None  # Table IX's ablation row, not one of Table I's
    color = "#7f7f7f"
    paper = "SENT Table IX ablation: low-entropy + high-covariance constraint, no curriculum"
    default_curriculum = "none"
