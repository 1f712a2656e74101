"""Every registered method (built-ins and the test-only example) meets the loss contract."""

from __future__ import annotations

import math

import pytest
import torch

from methods import method_names
from tests.methods.conftest import make_batch
from tests.methods.helpers import run_method

ALL = method_names()


@pytest.mark.parametrize("name", ALL)
def test_finite_scalar_loss_and_float_metrics(name):
    loss, g_lp, g_ent, metrics = run_method(name, make_batch())
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert torch.isfinite(g_lp).all() and torch.isfinite(g_ent).all()
    assert metrics and all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())
    assert "train/loss" in metrics


@pytest.mark.parametrize("name", ALL)
def test_no_gradient_into_padding(name):
    t = make_batch()
    _, g_lp, g_ent, _ = run_method(name, t)
    pad = ~t["mask"]
    assert pad.any()
    assert g_lp[pad].abs().max() == 0
    assert g_ent[pad].abs().max() == 0
    assert g_lp[t["mask"]].abs().sum() > 0  # and the policy term does reach real tokens


@pytest.mark.parametrize("name", ALL)
def test_padding_values_do_not_change_the_loss(name):
    t = make_batch()
    a = run_method(name, t)[0]
    t2 = dict(t)
    pad = ~t["mask"]
    for key in ("log_prob", "old_log_prob", "ref_log_prob", "entropy", "old_entropy"):
        t2[key] = torch.where(pad, torch.full_like(t[key], 3.0), t[key])
    b = run_method(name, t2)[0]
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", ALL)
def test_deterministic(name):
    a = run_method(name, make_batch(), seed=3)
    b = run_method(name, make_batch(), seed=3)
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=0)
    torch.testing.assert_close(a[1], b[1], rtol=0, atol=0)
    assert a[3] == b[3]


@pytest.mark.parametrize("name", ALL)
def test_batch_scope_runs_and_needs_precomputed_selection(name):
    from methods import ConfigError, build_method

    m = build_method(name)
    if "scope" not in type(m.params).__dataclass_fields__ or not m.selection_keys():
        pytest.skip("method selects no tokens")
    loss, *_ = run_method(name, make_batch(), params={"scope": "batch"})
    assert torch.isfinite(loss)
    # without the precomputed masks the loss call refuses instead of silently selecting per micro-batch
    from core.loss import LossConfig, MethodSpec, harness_loss

    t = make_batch()
    data = {"response_mask": t["mask"], "old_log_probs": t["old_log_prob"], "advantages": t["advantages"],
            "ref_log_prob": t["ref_log_prob"]}
    with pytest.raises(ConfigError, match="precomputed selection"):
        harness_loss(LossConfig(MethodSpec(name, {"scope": "batch"}), use_kl_loss=True),
                     {"log_probs": t["log_prob"].requires_grad_(), "entropy": t["entropy"]}, data)
