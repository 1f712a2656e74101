"""Batches that reach every branch of every method, shared by the method tests."""

from __future__ import annotations

import pytest
import torch

import methods  # noqa: F401  (registers the built-ins)
from tests.methods import example_method  # noqa: F401  (registers the worked example)


def make_batch(seed: int = 0, B: int = 8, T: int = 12, spread: float = 1.0) -> dict[str, torch.Tensor]:
    """A rollout batch with ragged lengths, 4 groups of 2 with +/- advantages, ratios far from 1
    (so PPO clipping and dual clipping fire), ties in entropy, large covariances, and a
    reference/rollout policy that differ from the current one."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([T, T - 4, T - 1, 3, T, T - 2, 5, T - 6])[:B]
    mask = torch.arange(T)[None, :] < lengths[:, None]                                  # [B, T]
    log_prob = -torch.rand(B, T, generator=g) * 3.0 * spread                           # [B, T]
    old = log_prob + 0.4 * torch.randn(B, T, generator=g)                               # ratios far from 1
    ref = log_prob + 0.3 * torch.randn(B, T, generator=g)
    adv = (torch.tensor([1.0, -1.0]).repeat(B // 2) * (1 + torch.arange(B) / 2.0))[:, None].expand(B, T).clone()
    entropy = torch.rand(B, T, generator=g) * 2.0
    entropy[1, :4] = 0.5  # ties
    old_entropy = (entropy + 0.3 * torch.randn(B, T, generator=g)).clamp(min=0)
    # padding holds garbage: a correct method must ignore it
    log_prob = torch.where(mask, log_prob, torch.full_like(log_prob, -7.0))
    return {"log_prob": log_prob, "old_log_prob": old, "ref_log_prob": ref, "advantages": adv, "mask": mask,
            "entropy": entropy, "old_entropy": old_entropy}


@pytest.fixture
def batch_tensors():
    return make_batch()
