"""Shared helpers for the cluster-path tests: harness configs for backend=verl built from sweeps/."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[2]
#: the model group's verl models: every sweeps/model/*.yaml with a HuggingFace id
VERL_MODELS = tuple(sorted(p.stem for p in (ROOT / "sweeps" / "model").glob("*.yaml")
                           if "hf_id" in OmegaConf.load(p)))


def method_node(name: str) -> dict:
    """The ``method`` node the sweep composes: the name and every hyperparameter flat (paper defaults)."""
    from methods import get_method_cls

    params = get_method_cls(name).params_cls()
    return {"name": name, **dataclasses.asdict(params)}


def make_cfg(model: str = "r1_distill_qwen_1p5b", method: str = "grpo", *, runs_root: str = "runs", **top):
    """A backend=verl harness config from the YAML files this issue ships (model/backend/data)."""
    cfg = OmegaConf.create({
        "method": method_node(method),
        "model": OmegaConf.load(ROOT / "sweeps" / "model" / f"{model}.yaml"),
        "backend": OmegaConf.load(ROOT / "sweeps" / "backend" / "verl.yaml"),
        "data": OmegaConf.load(ROOT / "sweeps" / "data" / "dapo_math_17k.yaml"),
        "curriculum": {"name": "none", "stages": 1},
        "seed": 0,
        "runs_root": runs_root,
        "sweep_name": "test",
    })
    for k, v in top.items():
        OmegaConf.update(cfg, k, v, force_add=True)
    return cfg


@pytest.fixture
def cfg_factory():
    return make_cfg
