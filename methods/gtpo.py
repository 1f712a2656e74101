"""GTPO: Group Token Policy Optimization, entropy-weighted token rewards (Tan et al. 2025, "GTPO and
GRPO-S: Token and Sequence-Level Reward Shaping with Policy Entropy", arXiv 2508.04349, §2, Eq. 3-7).

The token-level variant (GTPO), not the sequence-level GRPO-S. Each response is successful (O+) or
not (O-); H_it is the (detached, Remark 2.5) entropy of token t of response i::

    O+ (Eq. 3):  r+_it = alpha1 * 1  + alpha2 * H_it / sum_{k in O+, |o_k| > t} H_kt * d_t
    O- (Eq. 5):  r-_jt = alpha1 * -1 + alpha2 * (1/H_jt) / sum_{k in O-, |o_k| > t} (1/H_kt) * h_t * -1

``d_t`` / ``h_t``: how many O+ / O- responses have a token at position t. Per position the shaped
rewards sum to ``(alpha1 + alpha2) d_t`` (Prop. 2.2): the bonus is redistributed towards
high-entropy tokens of successful responses, and the penalty towards *low*-entropy ("confident")
tokens of failed ones. Advantages are the shaped rewards standardised (Eq. 6), and the objective is
the clipped surrogate with these token advantages (Eq. 7), on DAPO's token-level clip-higher base.

Assumptions where the paper leaves room (recorded in each field's ``source``):

- O+ / O- are read from the sign of the GRPO advantage (verl's binary reward: A > 0 iff the response
  is correct and its group is mixed). Responses with A = 0 (uniform-reward groups, which GTPO's DAPO
  base removes by dynamic sampling) keep advantage 0.
- Normalisation set (Eq. 6): the shaped rewards of all O+ and O- tokens of the loss call are
  standardised **jointly** (mean and unbiased std, as verl's GRPO advantage), so O+ tokens stay above
  O- tokens. The paper writes separate R+ / R- sets; standardising O+ only among O+ tokens would
  remove the correctness signal entirely (with alpha2 = 0 every advantage would be 0, where GTPO
  should reduce to its DAPO base), which we read as not intended. The sums over k, d_t and
  h_t, and the normalisation run over the responses of the loss call (the loss sees no prompt-group
  ids; with whole groups in a micro-batch, as the embedded trainer has, they span those groups).
- ``eps = 1e-6`` in ``1/(H + eps)``, the entropy sums and the std (Remark 2.1 adds an epsilon).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from methods.base import ClipParams, LossMethod, LossOutput, PolicyBatch, hp
from methods.common import clipped_surrogate, masked_mean
from methods.registry import register

EPS = 1e-6


@dataclass(frozen=True)
class GTPOParams(ClipParams):
    alpha1: float = hp(1.0, "GTPO (arXiv 2508.04349) §3 experiments: alpha1 = 1 (paper value, not re-verified here)",
                       "weight of the outcome reward in the shaped token reward", ge=0.0)
    alpha2: float = hp(0.1, "GTPO (arXiv 2508.04349) §3 experiments: alpha2 = 0.1 (paper value, not re-verified "
                       "here)", "weight of the entropy-redistributed term", ge=0.0)
    clip_ratio_low: float = hp(0.2, "GTPO builds on DAPO (its baseline): DAPO eps_low = 0.2",
                               "lower clip epsilon", ge=0.0, lt=1.0)
    clip_ratio_high: float = hp(0.28, "GTPO builds on DAPO (its baseline): DAPO eps_high = 0.28",
                                "upper clip epsilon", ge=0.0)
    clip_ratio_c: float = hp(10.0, "verl recipe/dapo clip_ratio_c=10.0 (GTPO's DAPO base)",
                             "dual-clip bound for negative advantages", gt=1.0)


def gtpo_advantages(entropy: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                    alpha1: float, alpha2: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Shaped token rewards (Eq. 3, 5) and their standardisation (Eq. 6), both ``[B, T]`` (0 off O+/O-)."""
    h = torch.where(mask, entropy.detach(), torch.zeros_like(entropy))                    # [B, T]
    mf = mask.to(h.dtype)
    row_adv = (advantages * mf).sum(-1) / mf.sum(-1).clamp(min=1)                        # [B]
    pos = (row_adv > 0)[:, None] & mask                                                   # [B, T] O+ tokens
    neg = (row_adv < 0)[:, None] & mask                                                   # [B, T] O- tokens
    d_t, h_t = pos.sum(0).to(h.dtype), neg.sum(0).to(h.dtype)                             # [T]
    s_pos = (h * pos).sum(0)                                                              # [T] sum_k H_kt over O+
    inv = torch.where(neg, 1.0 / (h + EPS), torch.zeros_like(h))                          # [B, T]
    s_neg = inv.sum(0)                                                                    # [T]
    r_pos = alpha1 + alpha2 * h / (s_pos + EPS) * d_t                                     # [B, T]
    r_neg = -alpha1 - alpha2 * inv / (s_neg + EPS) * h_t                                  # [B, T]
    shaped = torch.where(pos, r_pos, torch.where(neg, r_neg, torch.zeros_like(h)))        # [B, T]
    sel = pos | neg
    if int(sel.sum()) < 2:
        return shaped, torch.zeros_like(h)
    vals = shaped[sel]
    adv = (shaped - vals.mean()) / (vals.std() + EPS)                                     # Eq. 6, jointly
    return shaped, torch.where(sel, adv, torch.zeros_like(h))


@register
class GTPO(LossMethod):
    name = "gtpo"
    label = "GTPO"
    params_cls = GTPOParams
    paper = "Tan et al. 2025 (arXiv 2508.04349) GTPO, Eq. 3-7"
    needs_entropy = True

    def compute(self, batch: PolicyBatch) -> LossOutput:
        p = self.params
        shaped, adv = gtpo_advantages(batch.entropy, batch.advantages, batch.mask, p.alpha1, p.alpha2)  # [B, T]
        pg_mat, metrics = clipped_surrogate(batch, p, advantages=adv)                    # [B, T]
        loss = batch.aggregate(pg_mat, p.loss_agg_mode)
        m = batch.mask
        metrics["train/pg_loss"] = float(masked_mean(pg_mat.detach(), m))
        metrics["method/shaped_reward"] = float(masked_mean(shaped, m))
        metrics["method/token_adv_abs"] = float(masked_mean(adv.abs(), m))
        return LossOutput(loss, metrics)
