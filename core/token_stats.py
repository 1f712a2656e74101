"""The per-token diagnostics of ``token_stats.jsonl`` (docs/runlog.md; Figures 7-8), one record per
training step, built the same way by both backends (the embedded trainer and the verl driver hook).

A record holds the histogram of the rollout's token entropies, for methods whose selection reads
the covariance Cov_t (``LossMethod.uses_covariance``) the histogram of Cov_t, and on the steps that
ask for them the decoded token -> count of the 80% lowest / 20% highest entropy tokens.

May import: torch and ``methods.common`` (the covariance). Never a backend.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

import torch

__all__ = ["ENTROPY_EDGES", "COV_EDGES", "histogram", "token_stats_record"]

#: entropy bins (identical across steps, runs and backends): 0 .. 3.5 nats (ln 32 = 3.47); values outside
#: land in the end bins
ENTROPY_EDGES = [round(0.05 * i, 2) for i in range(71)]
#: covariance bins, symmetric; values outside land in the end bins
COV_EDGES = [round(-1.0 + 0.05 * i, 2) for i in range(41)]


def histogram(values: torch.Tensor, edges: list[float]) -> dict:
    """``{"edges", "counts"}`` of ``values`` clamped into ``[edges[0], edges[-1]]``."""
    e = torch.tensor(edges)
    v = values.clamp(e[0], e[-1])
    counts = torch.histogram(v.float(), bins=e).hist.long().tolist()
    return {"edges": edges, "counts": counts}


def token_stats_record(step: int, *, entropy: torch.Tensor, responses: torch.Tensor, mask: torch.Tensor,
                       advantages: torch.Tensor, old_log_prob: torch.Tensor, uses_covariance: bool,
                       decode: Callable[[int], str] | None, stage: int | None = None) -> dict:
    """One record from padded ``[B, T]`` rollout tensors; ``decode=None``: no token sets."""
    from methods.common import covariance

    mask = mask.to(torch.bool)
    h = entropy.float()[mask]
    rec: dict = {"step": int(step)}
    if stage is not None:
        rec["stage"] = int(stage)
    rec["entropy_hist"] = histogram(h, ENTROPY_EDGES)
    if uses_covariance:
        cov = covariance(old_log_prob.float(), advantages.float(), mask)[mask]
        rec["cov_hist"] = histogram(cov, COV_EDGES)
    if decode is not None and h.numel():
        toks = responses[mask].tolist()
        k_high = max(1, int(0.2 * h.numel()))
        order = torch.argsort(h, descending=True).tolist()
        high, low = order[:k_high], order[k_high:]
        rec["low_entropy_tokens"] = dict(Counter(decode(toks[i]) for i in low))
        rec["high_entropy_tokens"] = dict(Counter(decode(toks[i]) for i in high))
    return rec
