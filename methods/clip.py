"""w/ Clip: Clip-Cov (Cui et al. 2025, "The Entropy Mechanism of RL for Reasoning LMs"; SENT App. C-5).

Mirrors verl 0.9.1's ``clip_cov`` (identical to PRIME-RL's): Cov_t from Eq. 12 centred over the
loss call's tokens; tokens already clipped by PPO are excluded; among tokens with
``cov_lb < Cov < cov_ub`` (strict, as the code; the paper writes a closed interval)
``max(int(clip_frac * n_valid), 1)`` are drawn uniformly at random (``torch.randperm``, global RNG)
and their gradient is detached (loss 0). They stay in the denominator (``denominator='all'``).
No ratio clamp and no dual clip, as verl's code. PPO clip eps = 1 as the official recipes
(PRIME-RL#16), which matches the paper's formula (no clip).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from methods.base import LossMethod, LossOutput, PolicyBatch, RefKLParams, SelectionParams, hp
from methods.common import add_ref_kl, covariance, frac_count, masked_mean
from methods.registry import register


@dataclass(frozen=True)
class ClipCovParams(RefKLParams, SelectionParams):
    clip_frac: float = hp(2e-4, "SENT App. C-5; Cui et al. r = 2e-4 (verl clip_cov_ratio)",
                          "fraction of tokens whose gradient is detached", gt=0.0, le=1.0)
    count_rounding: str = hp("floor", "reference code: max(1, int(frac * n)); 'expected' keeps the share of tokens at "
                             "any loss-call size (docs/calibration.md, rule F)",
                             "how clip_frac becomes a token count: 'floor' (at least 1) or 'expected' (stochastic)",
                             choices=("floor", "expected"))
    cov_lb: float = hp(1.0, "SENT App. C-5 omega_low; verl clip_cov_lb", "lower covariance bound (exclusive)")
    cov_ub: float = hp(5.0, "SENT App. C-5 omega_high; verl clip_cov_ub", "upper covariance bound (exclusive)")
    clip_ratio_low: float = hp(1.0, "verl-recipe entropy/7b_clip_cov.sh clip_ratio_low=1 (PRIME-RL#16)",
                               "lower PPO clip epsilon", ge=0.0)
    clip_ratio_high: float = hp(1.0, "verl-recipe entropy/7b_clip_cov.sh clip_ratio_high=1", "upper PPO clip epsilon",
                                ge=0.0)
    kl_coef: float = hp(0.0, "SENT App. C-5 objective has no KL; Table X 'w/o kl loss' = 0",
                        "coefficient of KL(pi || pi_ref)", ge=0.0)

    def _extra_checks(self):
        return [] if self.cov_lb < self.cov_ub else [f"cov_lb={self.cov_lb} must be < cov_ub={self.cov_ub}"]


@register
class Clip(LossMethod):
    name = "clip"
    label = "w/ Clip"
    params_cls = ClipCovParams
    uses_covariance = True
    selection_metrics = ("method/clip_frac",)
    paper_order = 4
    color = "#9467bd"
    scale_rules = {"clip_frac": "F"}
    scale_note = ("cov_lb / cov_ub stay the paper's 1 and 5: {cov_band_pct:.1f}% of the base model's tokens lie in the\n"
                  "band (before the random pick).")
    paper = "Cui et al. 2025 (arXiv 2505.22617) Clip-Cov; SENT App. C-5"
    needs_entropy = False

    def selection_keys(self):
        return ("detach",)

    def _ppo_parts(self, batch: PolicyBatch):
        p = self.params
        ratio = torch.exp(batch.log_prob - batch.old_log_prob)                # [B, T]
        pg1 = -batch.advantages * ratio                                       # [B, T]
        pg2 = -batch.advantages * torch.clamp(ratio, 1 - p.clip_ratio_low, 1 + p.clip_ratio_high)
        return pg1, pg2

    def select(self, batch: PolicyBatch):
        return self._pick(batch, *self._ppo_parts(batch))

    def _pick(self, batch: PolicyBatch, pg1: torch.Tensor, pg2: torch.Tensor) -> dict[str, torch.Tensor]:
        p = self.params
        m = batch.mask
        cov = covariance(batch.log_prob, batch.advantages, m)                 # [B, T]
        eligible = m & ~(pg2 > pg1) & (cov > p.cov_lb) & (cov < p.cov_ub)     # [B, T]
        idx = torch.nonzero(eligible)                                          # [n_elig, 2]
        out = torch.zeros_like(m, dtype=torch.bool)
        if len(idx) > 0:
            n = min(frac_count(p.clip_frac, int(m.sum()), p.count_rounding), len(idx))
            pick = idx[torch.randperm(len(idx))[:n]]
            out[pick[:, 0], pick[:, 1]] = True
        return {"detach": out}

    def compute(self, batch: PolicyBatch) -> LossOutput:
        p = self.params
        pg1, pg2 = self._ppo_parts(batch)                                     # [B, T] each, computed once
        sel = self._pick(batch, pg1, pg2) if p.scope == "micro" else self.selections(batch)
        detach = sel["detach"]                                                 # [B, T] bool
        pg_mat = torch.maximum(pg1, pg2) * (~detach).float()                  # [B, T]
        pg = batch.aggregate_selected(pg_mat, p.loss_agg_mode, batch.mask & ~detach, p.denominator)
        metrics = {"train/pg_loss": float(masked_mean(pg_mat.detach(), batch.mask)),
                   "method/clip_frac": float(masked_mean(detach.float(), batch.mask)),
                   "method/ppo_kl": float(masked_mean(-(batch.log_prob - batch.old_log_prob).detach(), batch.mask))}
        return LossOutput(add_ref_kl(batch, p, pg, metrics), metrics)
