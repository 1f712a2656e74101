"""The registry is strict and every bad input gets one clear error before training."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.loss import LossConfig, MethodSpec, validate_actor_config
from methods import REGISTRY, ConfigError, LossMethod, build_method, method_names, register, unregister
from methods.grpo import GRPOParams

BUILTINS = {"grpo", "en", "adv", "mask", "clip", "cov", "high_en", "sent", "sent_released", "low", "low_cov"}


def test_all_paper_methods_are_registered():
    assert BUILTINS <= set(method_names())


def test_duplicate_name_raises():
    with pytest.raises(ConfigError, match="already registered"):
        @register
        class Again(LossMethod):  # noqa: F811
            name = "grpo"
            params_cls = GRPOParams


def test_unknown_method_lists_valid_ones_and_suggests():
    with pytest.raises(ConfigError) as e:
        build_method("snet")
    msg = str(e.value)
    assert "Did you mean 'sent'?" in msg and "grpo" in msg and "high_en" in msg


def test_unknown_hyperparameter_suggests():
    with pytest.raises(ConfigError, match="did you mean 'beta_low'"):
        build_method("sent", {"beta_lo": 1.0})


@pytest.mark.parametrize("name,params,match", [
    ("en", {"entropy_coef": -0.1}, "entropy_coef=-0.1 must be >= 0"),
    ("grpo", {"kl_coef": -1.0}, "kl_coef"),
    ("mask", {"keep_frac": 0.0}, "keep_frac=0.0 must be > 0"),
    ("mask", {"keep_frac": 1.5}, "keep_frac=1.5 must be <= 1"),
    ("sent", {"low_entropy_frac": 1.2}, "low_entropy_frac"),
    ("sent", {"high_cov_frac": 0.0}, "high_cov_frac"),
    ("clip", {"scope": "global"}, "scope='global' is not one of"),
    ("cov", {"denominator": "tokens"}, "denominator"),
    ("grpo", {"loss_agg_mode": "mean"}, "loss_agg_mode"),
    ("adv", {"kappa": 1.0}, "kappa=1.0 must be > 1"),
    ("clip", {"cov_lb": 5.0, "cov_ub": 1.0}, "cov_lb=5.0 must be < cov_ub"),
    ("grpo", {"clip_ratio_c": 1.0}, "clip_ratio_c"),
    ("sent", {"beta_high": float("nan")}, "must be finite"),
])
def test_bad_hyperparameters_raise_clearly(name, params, match):
    with pytest.raises(ConfigError, match=match):
        build_method(name, params)


def test_method_needing_ref_without_ref_config_is_rejected():
    with pytest.raises(ConfigError, match="use_kl_loss=True"):
        validate_actor_config(LossConfig(MethodSpec("sent"), use_kl_loss=False))
    validate_actor_config(LossConfig(MethodSpec("mask"), use_kl_loss=False))  # mask needs no reference


def test_verl_coefficients_that_would_be_ignored_are_rejected():
    with pytest.raises(ConfigError, match="entropy_coeff must be 0"):
        validate_actor_config(LossConfig(MethodSpec("en"), use_kl_loss=True, entropy_coeff=0.001))
    with pytest.raises(ConfigError, match="kl_loss_coef must be 0"):
        validate_actor_config(LossConfig(MethodSpec("grpo"), use_kl_loss=True, kl_loss_coef=0.001))
    with pytest.raises(ConfigError, match="calculate_entropy"):
        validate_actor_config(LossConfig(MethodSpec("mask"), calculate_entropy=False))


def test_every_field_has_a_source_and_doc():
    import dataclasses

    for name, cls in REGISTRY.items():
        for f in dataclasses.fields(cls.params_cls):
            assert f.metadata["source"].strip() and f.metadata["doc"].strip(), (name, f.name)


def test_cli_lists_every_method_with_defaults_and_sources():
    out = subprocess.run([sys.executable, "-m", "methods"], capture_output=True, text=True, check=True).stdout
    for name in BUILTINS:
        assert f"\n{name}  (v" in "\n" + out
    assert "beta_high" in out and "SENT §V-A" in out and "source:" in out


def test_unregister_removes_throwaway_methods():
    @register
    class Tmp(LossMethod):
        name = "tmp_throwaway"
        params_cls = GRPOParams

    assert "tmp_throwaway" in method_names()
    unregister("tmp_throwaway")
    assert "tmp_throwaway" not in method_names()
