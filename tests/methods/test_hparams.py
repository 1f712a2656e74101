"""Every hyperparameter of every method changes the loss or its gradient (no flag silently does nothing)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from methods import REGISTRY, method_names
from methods.base import AGG_MODES
from tests.methods.conftest import make_batch
from tests.methods.helpers import run_method

# values that exercise a field where a generic perturbation would not (documented per field)
SPECIAL = {
    "loss_agg_mode": "seq-mean-token-mean",
    "kl_type": "k2",
    "scope": "batch",                 # selections from rollout-time tensors instead of the current ones
    "entropy_source": "rollout",
    "reproduce_index_bug": True,
    "entropy_threshold": 0.9,
    "clip_frac": 0.5,                 # 2e-4 of 70 tokens is one token, like any fraction below 1/70
    "cov_frac": 0.3,
    "high_cov_frac": 0.5,
    "calm_frac": 0.5,
    "cov_lb": -1.0,                   # widen the covariance window so other tokens become candidates
    "cov_ub": 0.5,
    "clip_ratio_c": 1.2,
}
# fields whose effect needs other fields moved too (else they are unreachable on any batch)
CONTEXT = {
    ("clip", "cov_lb"): {"clip_frac": 0.5, "cov_ub": 5.0},
    ("clip", "cov_ub"): {"clip_frac": 0.5, "cov_lb": -1.0},
    ("clip", "kl_type"): {"kl_coef": 0.5},
    ("cov", "kl_type"): {"kl_coef": 0.5},
    ("mask", "kl_type"): {"kl_coef": 0.5},
    ("adv", "kl_type"): {"kl_coef": 0.5},
    ("clip", "denominator"): {"clip_frac": 0.3, "cov_lb": -10.0},
    ("cov", "scope"): {"cov_frac": 0.3},
    ("sent_released", "scope"): {"cov_frac": 0.3},
    # EntroPIC's controller acts on tokens with p > 0.95; make_batch's log-probs are uniform in [-3, 0]
    # and have none, so its coefficients are exercised with tau = 0.5
    **{("entropic", f): {"high_prob_thresh": 0.5} for f in ("target_entropy", "kp", "ki", "alpha_max")},
}


# per-method perturbations: clip's recipe eps = 1 makes any larger lower eps a no-op (ratio > 0)
SPECIAL_BY_METHOD = {("clip", "clip_ratio_low"): 0.1,
                     # no high-entropy token of make_batch leaves Archer's 0.5 trust region on the side that
                     # binds; a tighter one (0.1) clips three of them
                     ("archer", "high_clip_ratio_low"): 0.1, ("archer", "high_clip_ratio_high"): 0.1}


def perturbed(f: dataclasses.Field, name: str = ""):
    if (name, f.name) in SPECIAL_BY_METHOD:
        return SPECIAL_BY_METHOD[(name, f.name)]
    if f.name in SPECIAL and SPECIAL[f.name] != f.default:  # (gspo's default agg mode is the special one)
        return SPECIAL[f.name]
    v = f.default
    choices = f.metadata.get("choices")
    if choices:
        return next(c for c in choices if c != v)
    if isinstance(v, bool):
        return not v
    le = f.metadata.get("le")
    if v == 0:
        return 0.5
    if le is not None and v * 1.7 > le:
        return v / 2
    return v * 1.7


PAIRS = [(name, f) for name in method_names() for f in dataclasses.fields(REGISTRY[name].params_cls)]
# fields that only reweight a term whose value is exactly zero on the paper's on-policy first step are still
# tested here: the batch has old != current, so |lp - old| terms and clipping are live.


@pytest.mark.parametrize("name,field", PAIRS, ids=[f"{n}.{f.name}" for n, f in PAIRS])
def test_every_hyperparameter_matters(name, field):
    base = dict(CONTEXT.get((name, field.name), {}))
    t = make_batch()
    a = run_method(name, t, params=base, seed=1)
    new = perturbed(field, name)
    b = run_method(name, t, params={**base, field.name: new}, seed=1)
    same_loss = torch.allclose(a[0], b[0], rtol=1e-7, atol=1e-9)
    same_grad = torch.allclose(a[1], b[1], rtol=1e-7, atol=1e-10) and torch.allclose(a[2], b[2], rtol=1e-7, atol=1e-10)
    assert not (same_loss and same_grad), f"{name}.{field.name}: {field.default!r} -> {new!r} changed nothing"


def test_agg_modes_listed_match_verl():
    from verl.trainer.ppo.core_algos import agg_loss

    x = torch.rand(2, 3)
    m = torch.ones(2, 3, dtype=torch.bool)
    for mode in AGG_MODES:
        agg_loss(x, m, mode)  # raises for an unknown mode
