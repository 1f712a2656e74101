"""GRPO (Shao et al. 2024; SENT Eq. 4): the clipped surrogate minus beta * KL(pi || pi_ref)."""

from __future__ import annotations

from dataclasses import dataclass

from methods.base import ClipParams, LossMethod, LossOutput, PolicyBatch, RefKLParams
from methods.common import add_ref_kl, clipped_surrogate, masked_mean
from methods.registry import register


@dataclass(frozen=True)
class GRPOParams(ClipParams, RefKLParams):
    """Table X: KL coefficient 0.001; everything else VeRL's defaults (App. D-1)."""


def grpo_terms(batch: PolicyBatch, p: GRPOParams, advantages=None) -> tuple:
    """The GRPO loss (policy term + reference KL) shared by the methods built on J_GRPO."""
    pg_mat, metrics = clipped_surrogate(batch, p, advantages)                  # [B, T]
    loss = batch.aggregate(pg_mat, p.loss_agg_mode)                           # []
    metrics["train/pg_loss"] = float(masked_mean(pg_mat.detach(), batch.mask))
    loss = add_ref_kl(batch, p, loss, metrics)
    return loss, metrics


@register
class GRPO(LossMethod):
    name = "grpo"
    label = "GRPO"
    params_cls = GRPOParams
    paper_order = 0
    color = "#4d4d4d"
    baseline = True
    paper = "Shao et al. 2024 (DeepSeekMath); SENT Eq. 3-4, App. C-1"
    needs_entropy = False

    def compute(self, batch: PolicyBatch) -> LossOutput:
        loss, metrics = grpo_terms(batch, self.params)
        return LossOutput(loss, metrics)
