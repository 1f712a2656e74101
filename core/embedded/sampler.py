"""Batched sampling with a KV cache; per-token log-probs and entropies are gathered while sampling.

The rollout's log-probs at temperature 1.0 *are* the old policy's log-probs (``old_log_probs``) and
its entropies the rollout entropy (``old_entropy``), so the update needs no extra forward pass for
them (verl recomputes them; here it would be a redundant pass).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.embedded import task
from core.embedded.forward import KVCache, QwenWeights, forward, positions_from_valid

__all__ = ["Rollout", "sample"]


@dataclass
class Rollout:
    """``B`` sampled responses; every tensor is ``[B, T]`` (``T`` = longest response incl. ``</s>``)."""

    prompt_ids: torch.Tensor      # [B, P] left-padded prompts (with <s>)
    prompt_valid: torch.Tensor    # [B, P] bool
    response: torch.Tensor        # [B, T] sampled ids (pad after </s>)
    mask: torch.Tensor            # [B, T] bool, response tokens incl. </s>
    log_prob: torch.Tensor        # [B, T] log pi(o_t) at temperature 1 (0 outside mask)
    entropy: torch.Tensor         # [B, T] H_t of pi at temperature 1 (0 outside mask)
    finished: torch.Tensor        # [B] bool, ended with </s> (else cut at max_new_tokens)

    def texts(self) -> list[str]:
        return [task.TOKENIZER.decode(r[m].tolist()) for r, m in zip(self.response, self.mask)]

    def lengths(self) -> torch.Tensor:
        return self.mask.sum(-1)


@torch.no_grad()
def sample(w: QwenWeights, prompt_ids: torch.Tensor, prompt_valid: torch.Tensor, *, max_new_tokens: int,
           generator: torch.Generator, temperature: float = 1.0, top_p: float = 1.0) -> Rollout:
    """Sample one response per row of the left-padded ``prompt_ids`` ``[B, P]``.

    ``log_prob``/``entropy`` are those of the untempered policy (what the loss needs); the token is
    drawn from the tempered, top-p-truncated distribution.
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens={max_new_tokens} must be >= 1")
    if temperature <= 0:
        raise ValueError(f"temperature={temperature} must be > 0 (greedy decoding is not offered)")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p={top_p} must be in (0, 1]")
    tok = task.TOKENIZER
    w = w.fused()  # snapshot of the current parameters with fused projections
    B, P = prompt_ids.shape
    cache = KVCache.empty(w, B, P + max_new_tokens)
    pos = positions_from_valid(prompt_valid)                                  # [B, P]
    logits = forward(w, prompt_ids, pos, prompt_valid, cache)[:, -1]          # [b, V], b = rows still in the cache
    next_pos = pos[:, -1] + 1                                                 # [b]
    rows = torch.arange(B)                                                    # [b] batch row of each cache row
    out = torch.full((B, max_new_tokens), tok.pad_id, dtype=torch.long)
    lps = torch.zeros(B, max_new_tokens)
    ents = torch.zeros(B, max_new_tokens)
    alive = torch.ones(B, dtype=torch.bool)                                   # [B]
    mask = torch.zeros(B, max_new_tokens, dtype=torch.bool)
    t = 0
    for t in range(max_new_tokens):
        logp = torch.log_softmax(logits.float(), dim=-1)                       # [b, V]
        p = logp.exp()
        ent = -(p * logp).sum(-1)                                             # [b]
        if temperature != 1.0 or top_p < 1.0:
            q = torch.softmax(logits.float() / temperature, dim=-1)           # [b, V]
            if top_p < 1.0:
                sp, si = q.sort(-1, descending=True)
                drop = sp.cumsum(-1) - sp > top_p                             # keep the nucleus
                q = q.scatter(-1, si, sp.masked_fill(drop, 0.0))
        else:
            q = p
        nxt = torch.multinomial(q, 1, generator=generator).squeeze(-1)         # [b]
        live = alive[rows]                                                    # [b]
        nxt = torch.where(live, nxt, torch.full_like(nxt, tok.pad_id))
        out[rows, t] = nxt
        mask[rows, t] = live
        lps[rows, t] = torch.where(live, logp.gather(-1, nxt.unsqueeze(-1)).squeeze(-1), 0.0)
        ents[rows, t] = torch.where(live, ent, 0.0)
        alive[rows] = live & (nxt != tok.eos_id)
        if not bool(alive.any()) or t == max_new_tokens - 1:
            break
        keep = alive[rows]                                                    # [b]
        if int(keep.sum()) <= 0.75 * len(rows):  # drop finished rows from the cache (less work per token)
            idx = keep.nonzero().squeeze(-1)
            cache.k, cache.v, cache.valid = cache.k[:, idx], cache.v[:, idx], cache.valid[idx]
            rows, nxt, next_pos = rows[idx], nxt[idx], next_pos[idx]
        ones = torch.ones(len(rows), 1, dtype=torch.bool)
        logits = forward(w, nxt.unsqueeze(-1), next_pos.unsqueeze(-1), ones, cache)[:, -1]
        next_pos = next_pos + 1
    T = t + 1
    finished = ~alive
    return Rollout(prompt_ids, prompt_valid, out[:, :T], mask[:, :T], lps[:, :T], ents[:, :T], finished)
