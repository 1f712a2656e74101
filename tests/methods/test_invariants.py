"""Relations between methods that must hold exactly (at equal KL settings)."""

from __future__ import annotations

import pytest
import torch

from tests.methods.conftest import make_batch
from tests.methods.helpers import run_method


def same(a, b):
    for x, y in zip(a[:3], b[:3]):
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kl", [0.0, 0.001])
def test_en_with_zero_coefficient_is_grpo(kl):
    t = make_batch()
    same(run_method("en", t, {"entropy_coef": 0.0, "kl_coef": kl}), run_method("grpo", t, {"kl_coef": kl}))


def test_high_en_with_zero_coefficient_is_grpo():
    t = make_batch()
    same(run_method("high_en", t, {"entropy_coef": 0.0}), run_method("grpo", t))


def test_mask_keeping_every_token_is_grpo_without_kl():
    t = make_batch()
    for denom in ("selected", "all"):
        same(run_method("mask", t, {"keep_frac": 1.0, "denominator": denom}), run_method("grpo", t, {"kl_coef": 0.0}))


def test_adv_with_zero_alpha_is_grpo_without_kl():
    t = make_batch()
    same(run_method("adv", t, {"alpha": 0.0}), run_method("grpo", t, {"kl_coef": 0.0}))


def test_sent_with_zero_betas_is_grpo_without_kl():
    t = make_batch()
    same(run_method("sent", t, {"beta_low": 0.0, "beta_high": 0.0}), run_method("grpo", t, {"kl_coef": 0.0}))


def test_sent_with_equal_betas_is_low():
    t = make_batch()
    same(run_method("sent", t, {"beta_low": 0.7, "beta_high": 0.7}), run_method("low", t, {"beta": 0.7}))


def test_sent_on_every_token_with_one_beta_is_grpo_with_that_kl():
    t = make_batch()
    same(run_method("sent", t, {"low_entropy_frac": 1.0, "beta_low": 1.0, "beta_high": 1.0, "kl_coef": 0.01}),
         run_method("grpo", t, {"kl_coef": 0.01}))


def test_low_cov_is_sent_token_loss():
    t = make_batch()
    same(run_method("low_cov", t), run_method("sent", t))


def test_cov_with_zero_penalty_is_unclipped_pg_and_clip_without_candidates_is_too():
    t = make_batch()
    a = run_method("cov", t, {"penalty_coef": 0.0})
    b = run_method("clip", t, {"cov_lb": 1e6, "cov_ub": 2e6, "clip_ratio_low": 1.0, "clip_ratio_high": 1e6})
    same(a, b)


def test_sent_released_without_penalties_is_unclipped_pg_plus_ref_kl():
    t = make_batch()
    a = run_method("sent_released", t, {"ppo_kl_coef": 0.0, "kl_coef": 0.0})
    b = run_method("cov", t, {"penalty_coef": 0.0})
    same(a, b)


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"])
def test_entropy_bonus_total_weight_is_the_coefficient_in_every_agg_mode(mode):
    """TRL's test_entropy_bonus_scale bug: the bonus came out ~1/seq_len too small for some loss types.

    For a mean-type aggregation the entropy bonus's gradient sums to -coef over the response tokens
    (each token's weight is 1/N or 1/(G |o|), which sum to 1), whatever the policy term's mode.
    """
    t = make_batch()
    coef = 0.3
    _, _, g_ent, _ = run_method("en", t, {"entropy_coef": coef, "loss_agg_mode": mode})
    total = g_ent[t["mask"]].sum()
    if mode == "seq-mean-token-sum-norm":  # sum over tokens / horizon: weight |o|/T per sequence
        expected = -coef * t["mask"].sum() / (t["mask"].shape[0] * t["mask"].shape[1])
    else:
        expected = torch.tensor(-coef)
    torch.testing.assert_close(total, expected.to(total.dtype), rtol=1e-5, atol=1e-6)


def test_selected_denominator_equals_mean_over_selected_tokens():
    """mask, denominator='selected', one loss call: the policy term is the plain mean over kept tokens."""
    from methods import build_method
    from methods.base import PolicyBatch
    from methods.common import clipped_surrogate, top_frac_mask

    t = make_batch()
    m = build_method("mask")
    loss, *_ = run_method("mask", t)
    b = PolicyBatch(log_prob=t["log_prob"], old_log_prob=t["old_log_prob"], advantages=t["advantages"], mask=t["mask"],
                    entropy=t["entropy"])
    keep = top_frac_mask(t["entropy"], t["mask"], 0.2, rounding="ceil")
    pg, _ = clipped_surrogate(b, m.params)
    torch.testing.assert_close(loss, pg[keep].mean(), rtol=1e-6, atol=1e-7)
    assert int(keep.sum()) == -(-int(t["mask"].sum()) * 2 // 10)  # ceil(0.2 n)
