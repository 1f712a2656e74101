"""The policy's log-probs and entropies on a rollout's responses (the update's forward pass and the
reference model's), with optional length bucketing (speed only: the same values).

May import: torch, ``core.embedded.forward`` and ``core.embedded.sampler`` (the rollout's layout).
"""

from __future__ import annotations

import torch

from core.embedded.forward import QwenWeights, forward, positions_from_valid
from core.embedded.sampler import Rollout

__all__ = ["policy_outputs"]


def _outputs(w: QwenWeights, roll: Rollout, idx: torch.Tensor, want_entropy: bool):
    """Log-probs and entropies ``[len(idx), T]`` of rows ``idx``, computed on only the columns these
    rows use (their longest prompt and response) and padded back to the batch's width ``T``."""
    pv, rm = roll.prompt_valid[idx], roll.mask[idx]
    p0 = int(pv.any(0).long().argmax())                                       # first column with a prompt token
    T_all, T = roll.response.shape[1], max(1, int(rm.sum(-1).max()))
    resp = roll.response[idx, :T]
    ids = torch.cat([roll.prompt_ids[idx, p0:], resp], dim=1)                 # [b, P+T]
    valid = torch.cat([pv[:, p0:], rm[:, :T]], dim=1)                         # [b, P+T]
    P = pv.shape[1] - p0
    logits = forward(w, ids[:, :-1], positions_from_valid(valid)[:, :-1], valid[:, :-1])[:, P - 1:]  # [b, T, V]
    logp = torch.log_softmax(logits, dim=-1)                                  # [b, T, V]
    lp = logp.gather(-1, resp.unsqueeze(-1)).squeeze(-1)                     # [b, T]
    ent = -(logp.exp() * logp).sum(-1) if want_entropy else None              # [b, T]
    pad = ~rm[:, :T]                                                          # zeros outside the mask, as
    lp = lp.masked_fill(pad, 0.0)                                             # verl's unpadded layout, so no
    ent = ent.masked_fill(pad, 0.0) if ent is not None else None              # value depends on the grouping
    if T < T_all:  # back to the batch's width (zeros outside the mask)
        lp = torch.nn.functional.pad(lp, (0, T_all - T))
        ent = torch.nn.functional.pad(ent, (0, T_all - T)) if ent is not None else None
    return lp, ent


def policy_outputs(w: QwenWeights, roll: Rollout, rows: slice | None = None, want_entropy: bool = True,
                   buckets: int = 1):
    """Log-probs ``[b, T]`` (and entropies) of the rollout's responses under ``w`` (grad if enabled).

    ``buckets > 1`` runs the forward pass on that many groups of rows sorted by length, each trimmed
    to its own longest sequence, and puts the rows back in order: less padding, the same values (up
    to float rounding). The caller computes the loss once over all rows, so nothing about the loss
    or a method's token selection depends on the grouping.
    """
    idx = torch.arange(roll.response.shape[0])[rows or slice(None)]           # [b]
    if buckets <= 1 or len(idx) < 2 * buckets:
        return _outputs(w, roll, idx, want_entropy)
    length = roll.prompt_valid[idx].sum(-1) + roll.mask[idx].sum(-1)          # [b]
    perm = torch.argsort(length, stable=True)                                 # shortest first
    outs = [_outputs(w, roll, idx[part], want_entropy) for part in perm.chunk(buckets)]
    inv = torch.argsort(perm)                                                 # back to the order of idx
    lp = torch.cat([o[0] for o in outs])[inv]
    ent = torch.cat([o[1] for o in outs])[inv] if want_entropy else None
    return lp, ent
