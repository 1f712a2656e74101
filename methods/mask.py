"""w/ Mask (Wang et al. 2025, "Beyond the 80/20 Rule"; SENT App. C-4).

The clipped surrogate only on the top-rho highest-entropy tokens; the rest are masked out. As in the
official code, k = ceil(rho * n_valid) tokens are picked with ``torch.topk`` (exactly k, ties broken
by topk), entropy from the current forward pass (detached for the selection), per loss call
(micro-batch), and the policy term is normalised by the number of selected tokens
(``denominator='selected'``; TRL and ms-swift keep all tokens, ``denominator='all'``).

Not applied here: the paper's ``0 < #correct < G`` constraint is DAPO dynamic sampling, a data-level
filter of the trainer; groups with uniform rewards have A = 0 and contribute no gradient anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.base import LossMethod, LossOutput, PolicyBatch, SelectionParams, hp
from methods.common import add_ref_kl, clipped_surrogate, masked_mean, top_frac_mask
from methods.grpo import GRPOParams
from methods.registry import register


@dataclass(frozen=True)
class MaskParams(GRPOParams, SelectionParams):
    keep_frac: float = hp(0.2, "SENT App. C-4; Wang et al. rho = 0.2", "fraction of highest-entropy tokens kept (rho)",
                          gt=0.0, le=1.0)
    kl_coef: float = hp(0.0, "SENT App. C-4 objective has no KL term; the official recipe runs without KL",
                        "coefficient of KL(pi || pi_ref) (on all tokens, as the official code)", ge=0.0)
    denominator: str = hp("selected", "official code: loss_mask = response_mask * entropy_top_mask; SENT App. C-4",
                          "normaliser of the policy term: 'selected' tokens (official) or 'all' (TRL)",
                          choices=("all", "selected"))


@register
class Mask(LossMethod):
    name = "mask"
    label = "w/ Mask"
    params_cls = MaskParams
    selection_metrics = ("method/keep_frac",)
    paper_order = 3
    color = "#2ca02c"
    paper = "Wang et al. 2025 (arXiv 2506.01939); SENT App. C-4"

    def selection_keys(self):
        return ("keep",)

    def select(self, batch: PolicyBatch):
        h = batch.entropy if batch.entropy is not None else batch.old_entropy
        return {"keep": top_frac_mask(h.detach(), batch.mask, self.params.keep_frac, rounding="ceil")}

    def compute(self, batch: PolicyBatch) -> LossOutput:
        p = self.params
        keep = self.selections(batch)["keep"]                                 # [B, T] bool
        pg_mat, metrics = clipped_surrogate(batch, p)                         # [B, T]
        loss = batch.aggregate_selected(pg_mat, p.loss_agg_mode, keep, p.denominator)
        metrics["train/pg_loss"] = float(masked_mean(pg_mat.detach(), keep & batch.mask))
        loss = add_ref_kl(batch, p, loss, metrics)
        metrics["method/keep_frac"] = float(masked_mean(keep.float(), batch.mask))
        return LossOutput(loss, metrics)
