"""A lean functional forward pass over a ``Qwen2ForCausalLM``'s own parameters.

Why: on a 2-core CPU a 1.8M-parameter model spends most of a ``transformers`` forward call in Python
overhead (module hooks, cache objects, mask builders). This forward reads the *same* parameter
tensors (no copy, so optimizer updates are seen immediately) and does only the arithmetic of
Qwen2 (RMSNorm, RoPE, grouped-query SDPA, SwiGLU, tied or untied head). It serves both the sampler
(incremental, with a preallocated KV cache) and the update (full sequences, with autograd).
``tests/embedded/test_forward.py`` checks it against ``Qwen2ForCausalLM.forward`` to 1e-5.

Layout: sequences are left-padded; ``valid`` marks real tokens; positions count real tokens only,
as ``transformers`` does with ``position_ids = cumsum(attention_mask) - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["QwenWeights", "KVCache", "forward", "positions_from_valid"]


@dataclass
class QwenWeights:
    """References to a Qwen2ForCausalLM's parameters, plus RoPE frequencies."""

    embed: torch.Tensor
    layers: list
    norm: torch.Tensor
    head: torch.Tensor
    n_heads: int
    n_kv: int
    head_dim: int
    eps: float
    inv_freq: torch.Tensor

    @classmethod
    def of(cls, model) -> "QwenWeights":
        cfg = model.config
        if getattr(cfg, "model_type", None) != "qwen2":
            raise TypeError(f"expected a Qwen2 model, got model_type={getattr(cfg, 'model_type', None)!r}")
        rope = getattr(cfg, "rope_parameters", None) or {}
        if rope.get("rope_type", "default") != "default":
            raise NotImplementedError(f"rope_type {rope.get('rope_type')!r}: the lean forward implements default RoPE")
        theta = float(rope.get("rope_theta", getattr(cfg, "rope_theta", 10000.0)))
        if getattr(cfg, "use_sliding_window", False):
            raise NotImplementedError("sliding-window attention is not implemented in the lean forward")
        m = model.model
        hd = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        layers = []
        for layer in m.layers:
            a, mlp = layer.self_attn, layer.mlp
            layers.append((layer.input_layernorm.weight, a.q_proj.weight, a.q_proj.bias, a.k_proj.weight, a.k_proj.bias,
                           a.v_proj.weight, a.v_proj.bias, a.o_proj.weight, layer.post_attention_layernorm.weight,
                           mlp.gate_proj.weight, mlp.up_proj.weight, mlp.down_proj.weight))
        inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))  # [D/2]
        return cls(m.embed_tokens.weight, layers, m.norm.weight, model.lm_head.weight, cfg.num_attention_heads,
                   cfg.num_key_value_heads, hd, cfg.rms_norm_eps, inv_freq)


    def fused(self, grad: bool = False) -> "QwenWeights":
        """q/k/v and gate/up concatenated (3 fewer matmuls per layer). A snapshot: build it again after
        the parameters change. ``grad=True`` keeps the graph (the concatenation's backward hands each
        parameter its slice of the gradient); otherwise a detached inference copy. The sampler and the
        reference pass use it; the update does not (measured no faster there: its matmuls are large)."""
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            layers = [(ln1, torch.cat([wq, wk, wv]), torch.cat([bq, bk, bv]), wo, ln2, torch.cat([wg, wu]), wd)
                      for ln1, wq, bq, wk, bk, wv, bv, wo, ln2, wg, wu, wd in self.layers]
        return QwenWeights(self.embed, layers, self.norm, self.head, self.n_heads, self.n_kv, self.head_dim,
                           self.eps, self.inv_freq)


@dataclass
class KVCache:
    """Preallocated keys/values ``[L, B, H_kv, T_max, D]`` and the key-validity mask ``[B, T_max]``."""

    k: torch.Tensor
    v: torch.Tensor
    valid: torch.Tensor
    length: int = 0
    cos: torch.Tensor | None = None   # [t_max, D] RoPE table by position (computed once per cache)
    sin: torch.Tensor | None = None

    @classmethod
    def empty(cls, w: QwenWeights, batch: int, t_max: int) -> "KVCache":
        shape = (len(w.layers), batch, w.n_kv, t_max, w.head_dim)
        cos, sin = _rope_table(w, torch.arange(t_max).unsqueeze(0))          # [1, 1, t_max, D]
        return cls(torch.empty(shape), torch.empty(shape), torch.zeros(batch, t_max, dtype=torch.bool),
                   cos=cos[0, 0], sin=sin[0, 0])


def positions_from_valid(valid: torch.Tensor) -> torch.Tensor:
    """``cumsum(valid) - 1`` clamped at 0 (left padding gets position 0, as transformers)."""
    return (valid.long().cumsum(-1) - 1).clamp(min=0)


def _rms(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    """Qwen2's RMSNorm, ``w * x / sqrt(mean(x^2) + eps)``, as one fused op (fp32 throughout)."""
    return F.rms_norm(x, w.shape, w, eps)


def _rope_table(w: "QwenWeights", pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin ``[B, 1, S, D]`` of RoPE at positions ``pos`` ``[B, S]`` (as transformers computes them)."""
    freqs = pos.unsqueeze(-1).float() * w.inv_freq                           # [B, S, D/2]
    emb = torch.cat((freqs, freqs), dim=-1).unsqueeze(1)                      # [B, 1, S, D]
    return emb.cos(), emb.sin()


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rot = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rot * sin


def forward(w: QwenWeights, ids: torch.Tensor, pos: torch.Tensor, valid: torch.Tensor,
            cache: KVCache | None = None) -> torch.Tensor:
    """Logits ``[B, S, V]`` for tokens ``ids`` ``[B, S]`` at positions ``pos`` ``[B, S]``.

    Without ``cache``: full causal attention over the ``S`` tokens, keys masked by ``valid`` ``[B, S]``
    (autograd works). With ``cache``: the tokens are appended at ``cache.length`` and attend to
    everything cached so far; ``valid`` marks the new tokens.
    """
    B, S = ids.shape
    H, Hkv, D = w.n_heads, w.n_kv, w.head_dim
    decode = S == 1 and cache is not None
    if cache is not None and cache.cos is not None:                           # the cache's RoPE table
        cos, sin = cache.cos[pos].unsqueeze(1), cache.sin[pos].unsqueeze(1)   # [B, 1, S, D]
    else:
        cos, sin = _rope_table(w, pos)
    if cache is None:
        t0, T = 0, S
        key_valid = valid                                                     # [B, T]
    else:
        t0, T = cache.length, cache.length + S
        cache.valid[:, t0:T] = valid
        key_valid = cache.valid[:, :T]                                        # [B, T]
    if decode:  # one new token: every cached key is earlier, so only validity masks (itself included)
        mask = key_valid.clone()
        mask[:, -1] = True                                                    # [B, T]
    else:
        causal = torch.ones(S, T, dtype=torch.bool).tril(diagonal=t0)         # [S, T]
        # every query may see itself, so a padding query's row is never fully masked (NaN)
        is_self = torch.arange(T).unsqueeze(0) == (torch.arange(S) + t0).unsqueeze(1)  # [S, T]
        mask = (causal & (key_valid.unsqueeze(1) | is_self)).unsqueeze(1)     # [B, 1, S, T]

    if decode:
        neg_mask = ~mask[:, None, None, :]                                    # [B, 1, 1, T]
    h = w.embed[ids]                                                          # [B, S, E]
    for li, layer in enumerate(w.layers):
        fused = len(layer) == 7                                               # QwenWeights.fused()
        if fused:
            ln1, wqkv, bqkv, wo, ln2, wgu, wd = layer
        else:
            ln1, wq, bq, wk, bk, wv, bv, wo, ln2, wg, wu, wd = layer
        x = _rms(h, ln1, w.eps)                                               # [B, S, E]
        if fused:
            qkv = F.linear(x, wqkv, bqkv)                                     # [B, S, (H + 2 Hkv) D]
        else:
            qkv = torch.cat([F.linear(x, wq, bq), F.linear(x, wk, bk), F.linear(x, wv, bv)], dim=-1)
        qkv = qkv.view(B, S, H + 2 * Hkv, D).transpose(1, 2)                  # [B, H + 2 Hkv, S, D]
        q, k = _rope(qkv[:, :H + Hkv], cos, sin).split([H, Hkv], dim=1)       # [B, H, S, D], [B, Hkv, S, D]
        v = qkv[:, H + Hkv:]                                                  # [B, Hkv, S, D]
        if cache is not None:
            cache.k[li, :, :, t0:T] = k
            cache.v[li, :, :, t0:T] = v
            k, v = cache.k[li, :, :, :T], cache.v[li, :, :, :T]               # [B, Hkv, T, D]
        if decode:  # two small matmuls beat SDPA's setup cost
            qg = q.reshape(B, Hkv, H // Hkv, D)                               # [B, Hkv, G, D]
            att = (qg @ k.transpose(-1, -2)) * D ** -0.5                      # [B, Hkv, G, T]
            att = att.masked_fill(neg_mask, float("-inf")).softmax(-1)
            o = (att @ v).view(B, H, 1, D)                                    # [B, H, 1, D]
        else:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=H != Hkv)  # [B, H, S, D]
        h = h + F.linear(o.transpose(1, 2).reshape(B, S, H * D), wo)          # [B, S, E]
        x = _rms(h, ln2, w.eps)
        if fused:
            g, u = F.linear(x, wgu).chunk(2, dim=-1)                          # [B, S, F] each
        else:
            g, u = F.linear(x, wg), F.linear(x, wu)
        h = h + F.linear(F.silu(g) * u, wd)                                   # [B, S, E]
    if cache is not None:
        cache.length = T
    return F.linear(_rms(h, w.norm, w.eps), w.head)                           # [B, S, V]

