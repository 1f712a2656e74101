"""``+experiment=paper_tiny``: one sweep covers every configuration Tables I-VII and IX need plus the
curriculum control; each row composes to the intended setting and gets its own run directory name."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

import sweep
from core.curriculum import resolve_curriculum
from tests.embedded.conftest import REPO, compose

PARAMS = OmegaConf.load(REPO / "sweeps" / "experiment" / "paper_tiny.yaml").hydra.sweeper.params

# row -> (method, curriculum, stages, low_entropy_frac, high_cov_frac, run name without the seed); hand-written
EXPECTED = {
    **{m: (m, "none", 1, None, None, f"experiment=paper_tiny,method={m}")
       for m in ("grpo", "en", "adv", "mask", "clip", "cov", "high_en")},
    "sent": ("sent", "semantic_entropy", 2, 0.8, 2e-4, "experiment=paper_tiny,method=sent"),
    "w_cur": ("grpo", "semantic_entropy", 2, None, None, "curriculum=semantic_entropy,experiment=paper_tiny,method=grpo"),
    "w_low": ("low", "none", 1, 0.8, None, "experiment=paper_tiny,method=low"),
    "w_low_cov": ("low_cov", "none", 1, 0.8, 2e-4, "experiment=paper_tiny,method=low_cov"),
    "sent_stages1": ("sent", "semantic_entropy", 1, 0.8, 2e-4, "curriculum.stages=1,experiment=paper_tiny,method=sent"),
    "sent_stages3": ("sent", "semantic_entropy", 3, 0.8, 2e-4, "curriculum.stages=3,experiment=paper_tiny,method=sent"),
    "sent_en0p7": ("sent", "semantic_entropy", 2, 0.7, 2e-4, "experiment=paper_tiny,method=sent,method.low_entropy_frac=0.7"),
    "sent_en0p9": ("sent", "semantic_entropy", 2, 0.9, 2e-4, "experiment=paper_tiny,method=sent,method.low_entropy_frac=0.9"),
    "sent_cov1em4": ("sent", "semantic_entropy", 2, 0.8, 1e-4, "experiment=paper_tiny,method=sent,method.high_cov_frac=0.0001"),
    "sent_cov2em3": ("sent", "semantic_entropy", 2, 0.8, 2e-3, "experiment=paper_tiny,method=sent,method.high_cov_frac=0.002"),
    "sent_shuffled": ("sent", "shuffled", 2, 0.8, 2e-4, "curriculum=shuffled,experiment=paper_tiny,method=sent"),
}


def _job(row: str, seed: str):
    overrides = ["+experiment=paper_tiny", f"+paper_row={row}", f"seed={seed}"]
    cfg = compose(*overrides)
    resolve_curriculum(cfg, [o for o in overrides if not o.startswith("+")])
    return cfg, sweep.run_name(overrides, cfg)


def test_grid_has_every_row_times_three_seeds():
    rows, seeds = str(PARAMS["+paper_row"]).split(","), str(PARAMS.seed).split(",")
    assert sorted(rows) == sorted(EXPECTED) and seeds == ["0", "1", "2"]
    assert len(rows) * len(seeds) == 54
    names = set()
    for row in rows:
        cfg, name = _job(row, "1")
        m = cfg.method
        got = (m.name, cfg.curriculum.name, int(cfg.curriculum.stages), m.get("low_entropy_frac"), m.get("high_cov_frac"))
        assert got + (name.removesuffix(",seed=1"),) == EXPECTED[row], row
        names.add(name)
    assert len(names) == len(rows)  # every row its own run directory


def test_grid_covers_the_tables():
    got = {row: v for row, v in EXPECTED.items()}
    methods = {v[0] for r, v in got.items() if v[5].count(",") == 1}      # rows named by method alone
    assert methods >= {"grpo", "en", "adv", "mask", "clip", "cov", "high_en", "sent", "low", "low_cov"}
    assert {v[2] for v in got.values() if v[0] == "sent" and v[1] == "semantic_entropy" and v[3] == 0.8
            and v[4] == 2e-4} == {1, 2, 3}                                    # Table VI
    assert {(v[3], v[4]) for v in got.values() if v[0] == "sent" and v[1] == "semantic_entropy" and v[2] == 2} == {
        (0.7, 2e-4), (0.8, 2e-4), (0.9, 2e-4), (0.8, 1e-4), (0.8, 2e-3)}     # Table VII
    assert ("grpo", "semantic_entropy") in {v[:2] for v in got.values()}      # Table IX w/ Cur


def test_rows_keep_the_per_scale_settings():
    for row in ("clip", "cov", "sent", "w_low_cov", "sent_cov2em3", "sent_shuffled"):
        assert _job(row, "0")[0].method.count_rounding == "expected", row
    assert _job("en", "0")[0].method.entropy_coef == compose("method=en").method.entropy_coef
    assert _job("high_en", "0")[0].method.entropy_coef == compose("method=en").method.entropy_coef


@pytest.mark.slow
def test_grid_fills_every_row_of_tables_vi_vii_ix(tmp_path):
    """The whole grid on a tiny budget (one seed, 3 steps, 2 problems per benchmark; about 40 s), then
    ``python -m analysis``: Tables II, VI, VII and IX have a value in every row they need."""
    env = {**os.environ, "SENT_HARNESS_CACHE": str(tmp_path / "cache")}
    run = [sys.executable, "sweep.py", "-m", "+experiment=paper_tiny", "preset=smoke", "seed=0", "train.steps=3",
           "eval.every=3", "eval.n=1", "eval.n_final=2", "eval.k=[1,2]", "eval.limit=2", f"runs_root={tmp_path}",
           "backend.progress=false"]
    proc = subprocess.run(run, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len([d for d in (tmp_path / "default").iterdir() if (d / "DONE").exists()]) == 18
    out = tmp_path / "figs"
    proc = subprocess.run([sys.executable, "-m", "analysis", str(tmp_path / "default"), "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = {"table06_curriculum": ["No Curriculum", "Two-Stage", "Three-Stage"],
            "table07_hparams": ["en: 70%, cov: 0.0002", "en: 90%, cov: 0.0002", "en: 80%, cov: 0.0001",
                                "en: 80%, cov: 0.002", "en: 80%, cov: 0.0002"],
            "table09_ablation": ["GRPO", "w/ Cur", "w/ Low", "w/ Low_Cov", "w/ SENT"]}
    for table, labels in rows.items():
        lines = (out / "tables" / f"{table}.md").read_text().splitlines()
        for label in labels:
            line = next(x for x in lines if x.startswith(f"| {label} |"))
            assert "–" not in line, (table, line)
    header = next(x for x in (out / "tables" / "table02_avgk_1p5b.md").read_text().splitlines()
                  if x.startswith("| Benchmark |"))
    assert all(m in header for m in ("GRPO", "w/ En", "w/ Adv", "w/ Mask", "w/ Clip", "w/ Cov", "w/ High_En",
                                     "w/ SENT"))


def test_a_command_line_value_names_the_run_it_trains():
    """A row's value overridden on the command line trains with the command-line value (Hydra), so the
    run folder carries that value too and never collides with the row's own run."""
    overrides = ["+experiment=paper_tiny", "+paper_row=sent_en0p7", "method.low_entropy_frac=0.6", "seed=0"]
    cfg = compose(*overrides)
    assert cfg.method.low_entropy_frac == 0.6
    name = sweep.run_name(overrides, cfg)
    assert "method.low_entropy_frac=0.6" in name and "0.7" not in name
    assert name != _job("sent_en0p7", "0")[1]
