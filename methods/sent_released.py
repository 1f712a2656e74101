"""SENT as the authors released it (``zldscr0/SENT@2a7c40f``,
``compute_policy_loss_low_entropy_kl_cov_v2``), which differs from the paper (``sent``):

- every token gets the *unclipped* ``-A r`` (no PPO clip anywhere);
- T_low = the ``max(1, int(0.8 n))`` lowest-entropy valid tokens of the loss call (micro-batch);
- Cov is centred over T_low only; within T_low the ``k2 = max(1, int(cov_frac * |T_low|))`` largest-
  covariance tokens get ``+ ppo_kl_coef * 2.0 * |lp - old|`` and the k2 *smallest* get
  ``+ ppo_kl_coef * 0.5 * |lp - old|`` (a penalty against the old policy; every other token, i.e.
  ~99.96% of T_low, gets none); ``ppo_kl_coef`` is verl's YAML 0.1, so the weights are 0.2 / 0.05;
- a separate uniform k3 KL to the reference with coefficient 0.001 on every token;
- ``token-mean`` over the response mask.

``reproduce_index_bug``: the released code gathers advantages and log-probs with
``advantages[response_mask]`` where the mask is int64 (verl v0.4), i.e. *integer* indexing that
builds a ``[B, T, T]`` tensor of rows 0/1; the low-entropy indices then pick unrelated values, so
the "covariance" tokens are effectively arbitrary low-entropy tokens. Off by default; on, we
reproduce exactly those values (without materialising the ``[B, T, T]`` tensor).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from methods.base import ConfigError, LossMethod, LossOutput, PolicyBatch, RefKLParams, SelectionParams, hp
from methods.common import add_ref_kl, frac_count, masked_mean, unclipped_surrogate
from methods.registry import register


@dataclass(frozen=True)
class SentReleasedParams(RefKLParams, SelectionParams):
    low_entropy_frac: float = hp(0.8, "released code: hard-coded int(flat_entropy.shape[0] * 0.8)",
                                 "fraction of lowest-entropy tokens (T_low)", gt=0.0, le=1.0)
    cov_frac: float = hp(2e-4, "released code: policy_loss.kl_cov_ratio default 0.0002",
                         "k2 = max(1, int(cov_frac * |T_low|)) tokens at each covariance extreme", gt=0.0, le=1.0)
    count_rounding: str = hp("floor", "reference code: max(1, int(frac * n)); 'expected' keeps the share of tokens at "
                             "any loss-call size (docs/calibration.md, rule F)",
                             "how cov_frac becomes k2: 'floor' (at least 1) or 'expected' (stochastic)",
                             choices=("floor", "expected"))
    ppo_kl_coef: float = hp(0.1, "released stage scripts leave verl's YAML ppo_kl_coef = 0.1",
                            "scale of the |lp - old| penalties", ge=0.0)
    high_cov_coef: float = hp(2.0, "released code: hard-coded high_cov_coef = 2.0", "weight on the k2 largest-cov tokens",
                              ge=0.0)
    low_cov_coef: float = hp(0.5, "released code: hard-coded low_cov_coef = 0.5", "weight on the k2 smallest-cov tokens",
                             ge=0.0)
    kl_coef: float = hp(0.001, "released stage scripts: use_kl_loss=True, kl_loss_coef=0.001", "uniform reference KL",
                        ge=0.0)
    reproduce_index_bug: bool = hp(False, "released code gathers with an int64 mask (integer indexing); off = intended",
                                   "reproduce the released covariance indexing bug")


def _bugged_flat_gather(x: torch.Tensor, mask: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``x[mask.long()].reshape(-1)[idx]`` without building the ``[B, T, T]`` tensor.

    Integer indexing ``x[m]`` with ``m`` of shape [B, T] gives ``out[b, t, s] = x[m[b, t], s]``.
    """
    T = x.shape[1]
    b, t, s = idx // (T * T), (idx // T) % T, idx % T
    rows = mask.long()[b, t]                                                  # 0 or 1
    if x.shape[0] < 2 and bool((rows == 1).any()):
        raise ConfigError("reproduce_index_bug needs at least 2 responses per loss call (the released code "
                          "indexes row 1); it would raise IndexError there too")
    return x.detach()[rows, s]


@register
class SentReleased(LossMethod):
    name = "sent_released"
    label = "w/ SENT (released code)"
    params_cls = SentReleasedParams
    uses_covariance = True
    color = "#aa3333"
    scale_rules = {"cov_frac": "F/low_entropy_frac"}
    version = 1
    paper = "SENT released code (zldscr0/SENT@2a7c40f, compute_policy_loss_low_entropy_kl_cov_v2)"
    default_curriculum = "semantic_entropy"

    def selection_keys(self):
        return ("high", "lowcov")

    def select(self, batch: PolicyBatch):
        p = self.params
        h = (batch.entropy if batch.entropy is not None else batch.old_entropy).detach()
        m = batch.mask
        flat_valid = torch.nonzero(m.reshape(-1), as_tuple=True)[0]           # [n]
        n = flat_valid.numel()
        high = torch.zeros(m.numel(), dtype=torch.bool, device=m.device)
        lowc = torch.zeros_like(high)
        if n > 0:
            k = frac_count(p.low_entropy_frac, n)
            low_pos = torch.topk(h.reshape(-1)[flat_valid], k, largest=False).indices   # [k] positions among valid
            if p.reproduce_index_bug:
                a = _bugged_flat_gather(batch.advantages, m, low_pos)         # [k]
                lp = _bugged_flat_gather(batch.log_prob, m, low_pos)          # [k]
            else:
                a = batch.advantages.detach().reshape(-1)[flat_valid][low_pos]
                lp = batch.log_prob.detach().reshape(-1)[flat_valid][low_pos]
            cov = (a - a.mean()) * (lp - lp.mean())                           # [k] centred over T_low
            k2 = frac_count(p.cov_frac, k, p.count_rounding)
            token = flat_valid[low_pos]                                       # [k] flat token ids
            high[token[torch.topk(cov, k2, largest=True).indices]] = True
            lowc[token[torch.topk(cov, k2, largest=False).indices]] = True
        return {"high": high.view_as(m), "lowcov": lowc.view_as(m)}

    def compute(self, batch: PolicyBatch) -> LossOutput:
        p = self.params
        sel = self.selections(batch)
        pg_mat, abs_kl = unclipped_surrogate(batch)                           # [B, T]
        # the released code writes the large-cov rows first, then the small-cov rows (last write wins)
        w = torch.zeros_like(pg_mat)
        w[sel["high"]] = p.ppo_kl_coef * p.high_cov_coef
        w[sel["lowcov"]] = p.ppo_kl_coef * p.low_cov_coef
        # token-mean of (pg + w |lp - old|) over all tokens, as released (denominator='all'); 'selected'
        # normalises the penalty by the penalised tokens instead
        loss = batch.aggregate(pg_mat, p.loss_agg_mode) + \
            batch.aggregate_selected(w * abs_kl, p.loss_agg_mode, w > 0, p.denominator)
        metrics = {"train/pg_loss": float(masked_mean(pg_mat.detach(), batch.mask)),
                   "method/high_cov_frac": float(masked_mean(sel["high"].float(), batch.mask)),
                   "method/low_cov_frac": float(masked_mean(sel["lowcov"].float(), batch.mask)),
                   "method/ppo_kl": float(masked_mean(abs_kl.detach(), batch.mask))}
        loss = add_ref_kl(batch, p, loss, metrics)
        return LossOutput(loss, metrics)
