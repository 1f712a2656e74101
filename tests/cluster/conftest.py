"""Shared helpers for the cluster-path tests: harness configs for backend=verl built from sweeps/."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[2]
#: the model group's verl models: every sweeps/model/*.yaml with a HuggingFace id
VERL_MODELS = tuple(sorted(p.stem for p in (ROOT / "sweeps" / "model").glob("*.yaml")
                           if "hf_id" in OmegaConf.load(p)))


def make_cfg(model: str = "r1_distill_qwen_1p5b", method: str = "grpo", *, runs_root: str = "runs",
             curriculum: str = "none", **top):
    """A backend=verl harness config composed from sweeps/ as sweep.py composes it (core.config.compose);
    ``top``: dotted keys set afterwards."""
    from core.config import compose

    cfg = compose(["backend=verl", f"model={model}", "data=dapo_math_17k", f"method={method}",
                   f"curriculum={curriculum}", f"runs_root={runs_root}", "sweep_name=test"])
    for k, v in top.items():
        OmegaConf.update(cfg, k, v, force_add=True)
    return cfg


@pytest.fixture
def cfg_factory():
    return make_cfg
