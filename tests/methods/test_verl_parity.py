"""Parity with verl 0.9.1's own losses on identical tensors (and the same RNG for Clip-Cov)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tests.methods.helpers import run_method


class _Cfg(SimpleNamespace):
    def get(self, key, default=None):
        return getattr(self, key, default)


def verl_cfg(**kw):
    pl = _Cfg(clip_cov_ratio=0.0002, clip_cov_lb=1.0, clip_cov_ub=5.0, kl_cov_ratio=0.0002, ppo_kl_coef=1.0)
    for k in list(kw):
        if hasattr(pl, k):
            setattr(pl, k, kw.pop(k))
    base = dict(clip_ratio=0.2, clip_ratio_low=0.2, clip_ratio_high=0.2, clip_ratio_c=3.0, policy_loss=pl,
                global_batch_info={}, loss_agg_mode="token-mean")
    base.update(kw)
    return _Cfg(**base)


def big_batch(seed=0, B=16, T=40):
    g = torch.Generator().manual_seed(seed)
    mask = torch.arange(T)[None, :] < torch.randint(5, T + 1, (B,), generator=g)[:, None]
    lp = -torch.rand(B, T, generator=g) * 4
    adv = (torch.randn(B, 1, generator=g) * 3).expand(B, T).clone()   # large |A| -> covariances in (1, 5)
    return {"log_prob": lp, "old_log_prob": lp + 0.3 * torch.randn(B, T, generator=g), "advantages": adv,
            "mask": mask, "ref_log_prob": lp.clone(), "entropy": torch.rand(B, T, generator=g),
            "old_entropy": torch.rand(B, T, generator=g)}


def verl_loss(fn, t, cfg, seed=0):
    lp = t["log_prob"].clone().requires_grad_(True)
    torch.manual_seed(seed)
    loss, metrics = fn(old_log_prob=t["old_log_prob"], log_prob=lp, advantages=t["advantages"],
                       response_mask=t["mask"], loss_agg_mode="token-mean", config=cfg)
    loss.backward()
    return loss.detach(), lp.grad, metrics


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ratio", [0.0002, 0.05])
def test_clip_matches_verl_clip_cov(seed, ratio):
    from verl.trainer.ppo.core_algos import compute_policy_loss_clip_cov

    t = big_batch(seed)
    ours = run_method("clip", t, {"clip_frac": ratio}, seed=seed)
    ref = verl_loss(compute_policy_loss_clip_cov, t, verl_cfg(clip_cov_ratio=ratio, clip_ratio=1.0,
                                                             clip_ratio_low=1.0, clip_ratio_high=1.0), seed=seed)
    torch.testing.assert_close(ours[0], ref[0])
    torch.testing.assert_close(ours[1], ref[1])
    assert ours[3]["method/clip_frac"] == pytest.approx(ref[2]["actor/pg_clipfrac"])
    assert ref[2]["actor/pg_clipfrac"] > 0  # the batch really exercises the selection


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("ratio,coef", [(0.0002, 1.0), (0.02, 0.1), (0.2, 0.5)])
def test_cov_matches_verl_kl_cov(seed, ratio, coef):
    from verl.trainer.ppo.core_algos import compute_policy_loss_kl_cov

    t = big_batch(seed)
    ours = run_method("cov", t, {"cov_frac": ratio, "penalty_coef": coef})
    ref = verl_loss(compute_policy_loss_kl_cov, t, verl_cfg(kl_cov_ratio=ratio, ppo_kl_coef=coef))
    torch.testing.assert_close(ours[0], ref[0])
    torch.testing.assert_close(ours[1], ref[1])


@pytest.mark.parametrize("seed", [0, 1])
def test_grpo_policy_term_matches_verl_vanilla(seed):
    from verl.trainer.ppo.core_algos import compute_policy_loss_vanilla

    t = big_batch(seed)
    ours = run_method("grpo", t, {"kl_coef": 0.0})
    ref = verl_loss(compute_policy_loss_vanilla, t, verl_cfg())
    torch.testing.assert_close(ours[0], ref[0])
    torch.testing.assert_close(ours[1], ref[1])
    assert ours[3]["method/ppo_clipfrac"] == pytest.approx(ref[2]["actor/pg_clipfrac"])


def test_grpo_kl_term_is_verl_kl_penalty_aggregated():
    from verl.trainer.ppo.core_algos import agg_loss, kl_penalty

    t = big_batch(3)
    t["ref_log_prob"] = t["log_prob"] + 0.2
    with_kl = run_method("grpo", t, {"kl_coef": 0.5})[0]
    without = run_method("grpo", t, {"kl_coef": 0.0})[0]
    expected = 0.5 * agg_loss(kl_penalty(t["log_prob"], t["ref_log_prob"], "low_var_kl"), t["mask"], "token-mean")
    torch.testing.assert_close(with_kl - without, expected)


def test_global_batch_info_normalises_like_verl():
    """With verl's global token count, the loss of one micro-batch is its share of the mini-batch mean."""
    t = big_batch(4)
    n = int(t["mask"].sum())
    local = run_method("grpo", t, {"kl_coef": 0.0})[0]
    scaled = run_method("grpo", t, {"kl_coef": 0.0}, global_info={"dp_size": 1, "batch_num_tokens": 2 * n})[0]
    torch.testing.assert_close(scaled, local / 2)
