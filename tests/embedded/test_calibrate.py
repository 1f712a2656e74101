"""The calibration command (docs/calibration.md): rule E's arithmetic, the entropy gradient it measures,
the committed per-scale files agree with the committed measurements, and runs record their file."""

from __future__ import annotations

import json
import math

import pytest
import torch
import yaml

from core.config import method_scale_lines, method_scale_record, method_scale_settings
from core.embedded import calibrate as C
from tests.embedded.conftest import REPO, compose


def _rows(pg, h, high=None, tokens=1000):
    return [{"batch": i, "tokens": tokens, "g_pg": a, "g_h": b, "g_high": (high or h)[i], "dot": -0.5 * a * b,
             "zero_adv_share": 0.0, "cov_band_share": 0.02} for i, (a, b) in enumerate(zip(pg, h))]


def test_rule_e_and_f_arithmetic_by_hand():
    meas = {"rows": _rows([0.2, 0.4, 0.9], [2.0, 1.0, 4.0], high=[1.0, 1.0, 1.0], tokens=1250),
            "base_model": {"sha256": "ab" * 32}, "seed": 1, "batches": 2}
    d = C.derive(meas, rho=0.1)
    # medians: ||g_pg|| 0.4, ||g_H|| 2.0 -> lambda = 0.1 * 0.4 / 2.0 = 0.02
    assert d["entropy_coef_unrounded"] == pytest.approx(0.02) and d["entropy_coef"] == 0.02
    assert d["high_en_ratio_at_lambda"] == pytest.approx(0.02 * 1.0 / 0.4)
    assert d["expected_count"] == pytest.approx(0.25) and d["expected_count_sent"] == pytest.approx(0.2)
    assert d["cos_pg_h"] == pytest.approx(-0.5)
    # lambda_0 = -mean(dot) / mean(||g_H||^2) = 0.5 * mean(0.4, 0.4, 3.6) / mean(4, 1, 16)
    assert d["lambda_entropy_neutral"] == pytest.approx(0.5 * (4.4 / 3) / 7.0)
    texts = C.render(d, "0123456789ab")
    assert yaml.safe_load(texts["en"]) == {"entropy_coef": 0.02}
    assert yaml.safe_load(texts["high_en"]) == {"entropy_coef": 0.02}
    for m, field in (("clip", "clip_frac"), ("cov", "cov_frac"), ("sent", "high_cov_frac"),
                     ("low_cov", "high_cov_frac"), ("sent_released", "cov_frac")):
        assert yaml.safe_load(texts[m]) == {field: 2e-4, "count_rounding": "expected"}


def test_en_minus_grpo_loss_is_minus_the_token_mean_entropy():
    """What rule E differentiates: En's loss at lambda = 1 minus GRPO's is -(token-mean entropy)."""
    from core.loss import harness_loss

    g = torch.Generator().manual_seed(0)
    B, T = 4, 7
    mask = torch.rand(B, T, generator=g) > 0.3
    lp, ent = -torch.rand(B, T, generator=g), torch.rand(B, T, generator=g)
    data = {"response_mask": mask.float(), "old_log_probs": lp, "advantages": torch.randn(B, T, generator=g),
            "old_entropy": ent, "ref_log_prob": lp, "dp_size": 1, "batch_num_tokens": int(mask.sum()),
            "global_batch_size": B}
    l_en, _ = harness_loss(C._loss_cfg("en", entropy_coef=1.0), {"log_probs": lp, "entropy": ent}, data)
    l_gr, _ = harness_loss(C._loss_cfg("grpo"), {"log_probs": lp, "entropy": ent}, data)
    assert float(l_en - l_gr) == pytest.approx(-float((ent * mask).sum() / mask.sum()), rel=1e-5)


def test_measure_on_the_smoke_model_gives_finite_norms():
    meas = C.measure(batches=1, overrides=("preset=smoke",), log=lambda m: None)
    assert len(meas["rows"]) == 2  # 4 prompts per step, mini-batches of 2
    for r in meas["rows"]:
        assert r["tokens"] > 0 and math.isfinite(r["g_pg"]) and r["g_h"] > 0 and r["g_high"] > 0
    assert meas["base_model"]["source"] == "shipped"


def test_committed_files_follow_the_committed_measurements():
    """sweeps/method_scale/tiny_*.yaml are what the protocol derives from docs/calibration/measurements.json."""
    meas = json.loads((REPO / "docs" / "calibration" / "measurements.json").read_text())
    d = C.derive(meas)
    assert meas["base_model"]["sha256"] == json.loads((REPO / "data/models/tiny/meta.json").read_text())["sha256"]
    for method, text in C.render(d, "x").items():
        assert yaml.safe_load((C.SCALE_DIR / f"tiny_{method}.yaml").read_text()) == yaml.safe_load(text)
    cfg = compose("method=en")  # Hydra merges the per-scale file into the method node
    assert cfg.method.entropy_coef == d["entropy_coef"]
    assert compose("method=clip").method.count_rounding == "expected"
    assert method_scale_settings("tiny", "en") == {"file": "sweeps/method_scale/tiny_en.yaml",
                                                     "values": {"entropy_coef": d["entropy_coef"]}}
    assert method_scale_settings("tiny", "grpo") is None


def test_panel_table_reads_the_run_log(tmp_path):
    for value, seed, ents, corr0, corr1 in (("0.5", 0, [0.2] + [0.1] * 5, [1, 0], [1, 1]),
                                            ("0.05", 1, [0.3] * 6, [0, 0], [1, 0])):
        d = tmp_path / f"method=en,method.entropy_coef={value},seed={seed}"
        (d / "samples").mkdir(parents=True)
        (d / "DONE").write_text("{}")
        (d / "train.jsonl").write_text("".join(json.dumps({"step": i + 1, "train/entropy": h}) + "\n"
                                               for i, h in enumerate(ents)))
        (d / "samples" / "synth_1.jsonl").write_text("".join(
            json.dumps({"eval_step": st, "correct": c}) + "\n" for st, cs in ((0, corr0), (6, corr1)) for c in cs))
    (tmp_path / "unfinished").mkdir()  # no DONE: ignored
    lines = C.panel_table(tmp_path).splitlines()
    assert lines[2] == "| 0.05 | 1 | 0.300 | 0.300 | 0.000 | 0.500 (6) |"
    assert lines[3] == "| 0.5 | 0 | 0.200 | 0.100 | 0.500 | 1.000 (6) |"


def test_method_scale_record_says_what_changed_and_why():
    rec = method_scale_record(compose("method=en"))
    assert rec["file"] == "sweeps/method_scale/tiny_en.yaml" and rec["values"] == {"entropy_coef": 0.084}
    assert rec["defaults"] == {"entropy_coef": 0.001} and rec["used"] == {"entropy_coef": 0.084}
    assert rec["overridden"] == [] and rec["rules"] == {"entropy_coef": "E"}
    assert rec["why"].startswith("Embedded scale (model=tiny) settings for w/ En")
    assert method_scale_lines(rec) == ["[method_scale] sweeps/method_scale/tiny_en.yaml: entropy_coef 0.001 -> "
                                       "0.084 (calibration rule E, docs/calibration.md)"]
    again = method_scale_record(compose("method=en", "method.entropy_coef=0.5"))
    assert again["overridden"] == ["entropy_coef"] and "this run uses 0.5" in method_scale_lines(again)[0]
    assert method_scale_record(compose("method=grpo")) is None

