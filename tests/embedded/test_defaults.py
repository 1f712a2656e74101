"""One source for the embedded defaults (issue 17): ``TrainSpec`` and ``ModelSpec`` are the structured
nodes of the ``train`` block and of ``model=tiny`` (core/config.py), the eval block lives in
sweeps/config.yaml, and a preset lists only what it changes. The composed configs equal the ones
composed before the move (tests/embedded/fixtures/composed_defaults.json, written from the old YAML)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from core.config import SWEEPS_DIR, compose
from core.embedded.model import ModelSpec
from core.embedded.spec import TrainSpec

FIXTURE = Path(__file__).parent / "fixtures" / "composed_defaults.json"
OLD = json.loads(FIXTURE.read_text())


@pytest.mark.parametrize("overrides", sorted(OLD))
def test_composed_config_is_unchanged(overrides):
    new = OmegaConf.to_container(compose(overrides.split()), resolve=True)
    # JSON text, so 1 and 1.0 (or True and 1) differ
    assert json.dumps(new, sort_keys=True) == json.dumps(OLD[overrides], sort_keys=True)


def test_the_dataclasses_hold_the_defaults():
    cfg = compose([])
    assert TrainSpec.from_cfg(cfg.train) == TrainSpec()
    assert ModelSpec.from_cfg(cfg.model) == ModelSpec()


@pytest.mark.parametrize("preset", ["default", "smoke", "discriminating"])
def test_a_preset_restates_no_default(preset):
    text = yaml.safe_load((SWEEPS_DIR / "preset" / f"{preset}.yaml").read_text())
    base = {"train": dataclasses.asdict(TrainSpec()), "model": dataclasses.asdict(ModelSpec()),
            "eval": yaml.safe_load((SWEEPS_DIR / "config.yaml").read_text())["eval"]}
    same = [f"{block}.{k}" for block, values in text.items() for k, v in values.items() if base[block].get(k) == v]
    assert not same, f"preset={preset} restates defaults: {same}"


def test_the_tiny_model_yaml_only_names_the_model():
    tiny = yaml.safe_load((SWEEPS_DIR / "model" / "tiny.yaml").read_text())
    assert set(tiny) == {"defaults", "name"}
