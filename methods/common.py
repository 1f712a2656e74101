"""Building blocks shared by the methods: the clipped surrogate, the reference KL, token
selection and the covariance of Cui et al. (Eq. 12 of the SENT paper).

Each returns per-token matrices; the method decides how they are aggregated.
"""

from __future__ import annotations

import math

import torch

from methods.base import ClipParams, PolicyBatch, RefKLParams

__all__ = [
    "clipped_surrogate",
    "unclipped_surrogate",
    "ref_kl_term",
    "masked_mean",
    "bottom_frac_mask",
    "top_frac_mask",
    "covariance",
    "frac_count",
    "COUNT_ROUNDINGS",
    "add_ref_kl",
]


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over ``mask`` (0 when the mask is empty)."""
    return (x * mask).sum() / mask.sum().clamp(min=1)


def clipped_surrogate(batch: PolicyBatch, p: ClipParams, advantages: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, dict[str, float]]:
    """verl's vanilla PPO loss per token: max(-A r, -A clip(r)), dual-clipped at ``clip_ratio_c`` for A < 0.

    Returns the ``[B, T]`` loss matrix (to minimise) and clip metrics.
    """
    adv = batch.advantages if advantages is None else advantages                          # [B, T]
    log_ratio = torch.clamp(batch.log_prob - batch.old_log_prob, min=-20.0, max=20.0)     # [B, T]
    ratio = torch.exp(log_ratio)                                                           # [B, T]
    pg1 = -adv * ratio                                                                     # [B, T]
    pg2 = -adv * torch.clamp(ratio, 1 - p.clip_ratio_low, 1 + p.clip_ratio_high)          # [B, T]
    clipped = torch.maximum(pg1, pg2)                                                      # [B, T]
    pg3 = -adv * p.clip_ratio_c                                                            # [B, T]
    dual = torch.minimum(pg3, clipped)                                                     # [B, T]
    loss = torch.where(adv < 0, dual, clipped)                                             # [B, T]
    m = batch.mask
    metrics = {
        "method/ppo_clipfrac": float(masked_mean((pg2 > pg1).float(), m)),
        "method/ppo_clipfrac_lower": float(masked_mean(((clipped > pg3) & (adv < 0)).float(), m)),
        "method/ppo_kl": float(masked_mean(-log_ratio.detach(), m)),
    }
    return loss, metrics


def unclipped_surrogate(batch: PolicyBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """-A r per token with no clipping (KL-Cov and SENT-as-released); also returns |log r|."""
    log_ratio = batch.log_prob - batch.old_log_prob                                       # [B, T]
    return -batch.advantages * torch.exp(log_ratio), log_ratio.abs()


def ref_kl_term(batch: PolicyBatch, p: RefKLParams) -> torch.Tensor:
    """Per-token KL(pi || pi_ref) estimate with verl's ``kl_penalty`` (``[B, T]``)."""
    from verl.trainer.ppo.core_algos import kl_penalty

    if batch.ref_log_prob is None:
        raise ValueError("this method needs reference log-probs but the batch has none "
                         "(verl: set actor_rollout_ref.actor.use_kl_loss=True; embedded: the core keeps a reference)")
    return kl_penalty(logprob=batch.log_prob, ref_logprob=batch.ref_log_prob, kl_penalty=p.kl_type)


def add_ref_kl(batch: PolicyBatch, p: RefKLParams, loss: torch.Tensor, metrics: dict) -> torch.Tensor:
    """``loss + kl_coef * agg(KL(pi || pi_ref))`` over every response token (when ``kl_coef > 0``)."""
    if p.kl_coef > 0:
        kl_mat = ref_kl_term(batch, p)                                                     # [B, T]
        loss = loss + p.kl_coef * batch.aggregate(kl_mat, p.loss_agg_mode)
        metrics["train/kl"] = float(masked_mean(kl_mat.detach(), batch.mask))
    return loss


#: how a fraction becomes a token count (``frac_count``): ``floor`` = ``max(1, int(f n))`` (the reference
#: code), ``ceil`` = ``max(1, ceil(f n))``, ``expected`` = stochastic rounding with expectation ``f n`` (may be 0)
COUNT_ROUNDINGS = ("floor", "ceil", "expected")


def frac_count(frac: float, n: int, rounding: str = "floor") -> int:
    """Number of tokens a fraction selects among ``n``.

    ``floor`` / ``ceil``: at least 1, as all reference code does. ``expected``: ``floor(f n)`` plus one
    more with probability ``f n - floor(f n)`` (global torch RNG), so the expected count is exactly
    ``f n`` at any ``n``, and 0 is possible (docs/calibration.md, rule F).
    """
    if n == 0:
        return 0
    if rounding == "expected":
        x = frac * n
        k = math.floor(x)
        return min(n, k + int(float(torch.rand(())) < x - k))
    if rounding not in COUNT_ROUNDINGS:
        raise ValueError(f"rounding={rounding!r} is not one of {list(COUNT_ROUNDINGS)}")
    k = math.ceil(frac * n - 1e-9) if rounding == "ceil" else int(frac * n)
    return min(n, max(1, k))


def _select_by_rank(values: torch.Tensor, mask: torch.Tensor, k: int, largest: bool) -> torch.Tensor:
    """Bool mask of exactly ``k`` tokens of ``mask`` with the largest/smallest ``values``.

    Ties at the boundary go to the lowest flat index (row-major), so the result is deterministic.
    O(n): a k-th value (``torch.kthvalue``) and one comparison, instead of sorting 80% of the tokens;
    a small k uses ``torch.topk``, which is then cheaper.
    """
    flat_mask = mask.reshape(-1)                                                           # [B*T]
    n = int(flat_mask.sum())
    if k <= 0 or n == 0:
        return torch.zeros_like(mask, dtype=torch.bool)
    if k >= n:
        return mask.clone().to(torch.bool)
    v = values.detach().reshape(-1)
    key = torch.where(flat_mask, -v if largest else v, torch.full_like(v, float("inf")))   # smallest k of key
    if k <= 32:
        kth = torch.topk(key, k, largest=False, sorted=True).values[-1]
    else:
        kth = torch.kthvalue(key, k).values
    out = key < kth                                                                        # [B*T] strictly inside
    need = k - int(out.sum())
    if need > 0:                                                                           # boundary ties: lowest index
        tie_idx = torch.nonzero(key == kth, as_tuple=True)[0][:need]
        out[tie_idx] = True
    return out.view_as(mask)


def bottom_frac_mask(values: torch.Tensor, mask: torch.Tensor, frac: float, rounding: str = "floor") -> torch.Tensor:
    """The ``frac`` lowest-``values`` tokens of ``mask`` (count: ``frac_count``)."""
    return _select_by_rank(values, mask, frac_count(frac, int(mask.sum()), rounding), largest=False)


def top_frac_mask(values: torch.Tensor, mask: torch.Tensor, frac: float, rounding: str = "floor") -> torch.Tensor:
    """The ``frac`` highest-``values`` tokens of ``mask``."""
    return _select_by_rank(values, mask, frac_count(frac, int(mask.sum()), rounding), largest=True)


def covariance(log_prob: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cov_t = (log p_t - mean log p)(A_t - mean A), means over ``mask`` (SENT Eq. 12; Cui et al.).

    Detached; ``[B, T]``; meaningless (but finite) outside ``mask``.
    """
    lp = log_prob.detach()
    a = advantages.detach()
    return (lp - masked_mean(lp, mask)) * (a - masked_mean(a, mask))
