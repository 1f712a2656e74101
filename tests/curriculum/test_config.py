"""The curriculum Hydra group, the Table VI / IX presets, and resolve_curriculum."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from core import curriculum as C

ROOT = Path(__file__).resolve().parents[2]
SWEEPS = ROOT / "sweeps"


def test_yaml_defaults_are_the_code_defaults():
    se = OmegaConf.load(SWEEPS / "curriculum" / "semantic_entropy.yaml")
    assert se.name == "semantic_entropy" and se.stages == 2          # SENT §V-A: two stages
    assert se.m == C.DEFAULT_M == 8 and se.temperature == 1.0 and se.top_p == 1.0
    assert se.variant == C.DEFAULT_VARIANT and se.unparseable == C.DEFAULT_UNPARSEABLE
    assert se.reset_reference is True and se.stage_fractions is None and se.scores_path is None
    none = OmegaConf.load(SWEEPS / "curriculum" / "none.yaml")
    assert none.name == "none" and none.stages == 1


def _cfg(method: str, **cur):
    node = {**OmegaConf.to_container(OmegaConf.load(SWEEPS / "curriculum" / "semantic_entropy.yaml")), **cur}
    return OmegaConf.create({"method": {"name": method}, "curriculum": node})


def test_resolve_auto_follows_the_methods_default_curriculum():
    import methods

    for name in methods.method_names():
        cfg = C.resolve_curriculum(_cfg(name, name="auto"))
        expected = methods.get_method_cls(name).default_curriculum
        assert cfg.curriculum.name == expected
        assert cfg.curriculum.stages == (2 if expected == "semantic_entropy" else 1)
    assert C.resolve_curriculum(_cfg("sent", name="auto", stages=3)).curriculum.stages == 3


def test_resolve_rejects_settings_that_would_do_nothing():
    with pytest.raises(C.CurriculumError, match="curriculum.stages=3.*curriculum=semantic_entropy"):
        C.resolve_curriculum(_cfg("grpo", name="auto", stages=3), overrides=["method=grpo", "curriculum.stages=3"])
    with pytest.raises(C.CurriculumError, match="use curriculum=semantic_entropy"):
        C.resolve_curriculum(OmegaConf.create({"method": {"name": "grpo"}, "curriculum": {"name": "none", "stages": 2}}))
    for bad, match in [({"stages": 0}, "integer >= 1"), ({"m": 1}, "at least 2 samples"),
                       ({"variant": "bits"}, "unknown semantic-entropy variant"),
                       ({"unparseable": "drop"}, "unknown unparseable rule"),
                       ({"stage_fractions": [1.0]}, "1 entries for 2 stages"), ({"name": "lengths"}, "is unknown")]:
        with pytest.raises(C.CurriculumError, match=match):
            C.resolve_curriculum(_cfg("sent", **bad))


# ---- composing the real config tree (sweep.py generates the method group) ------------------------

@pytest.fixture(scope="module")
def compose():
    if not (ROOT / "sweep.py").exists() or not (SWEEPS / "config.yaml").exists():
        pytest.skip("sweep.py / sweeps/config.yaml are not in this checkout")
    from hydra import compose as hcompose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    sys.path.insert(0, str(ROOT))
    import sweep  # noqa: F401 - registers the method group

    def _compose(overrides):
        cfg = hcompose("config", overrides=list(overrides), return_hydra_config=True)
        return C.resolve_curriculum(cfg, overrides=[o for o in overrides if not o.startswith("+experiment")])

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(SWEEPS), version_base="1.3"):
        yield _compose
    GlobalHydra.instance().clear()


def _grid(compose, experiment):
    params = OmegaConf.load(SWEEPS / "experiment" / f"{experiment}.yaml").hydra.sweeper.params
    keys = [k for k in params if k != "seed"]   # seeds repeat the grid; one is enough here
    assert str(params.seed) == "0,1,2"
    runs = []
    for combo in itertools.product(*[str(params[k]).split(",") for k in keys]):
        ov = [f"+experiment={experiment}"] + [f"{k}={v}" for k, v in zip(keys, combo)]
        cfg = compose(ov)
        runs.append((cfg.method.name, cfg.curriculum.name, cfg.curriculum.stages, cfg.seed))
    return runs


def test_table6_grid(compose):
    runs = _grid(compose, "table6")
    assert sorted({r[:3] for r in runs}) == [("sent", "semantic_entropy", 1), ("sent", "semantic_entropy", 2),
                                             ("sent", "semantic_entropy", 3)]


def test_table9_grid(compose):
    runs = _grid(compose, "table9")
    assert sorted({r[:3] for r in runs}) == sorted([
        ("grpo", "none", 1), ("grpo", "semantic_entropy", 2), ("low", "none", 1), ("low_cov", "none", 1),
        ("sent", "semantic_entropy", 2)])


def test_method_sent_turns_the_curriculum_on(compose):
    cfg = compose(["method=sent", "curriculum=auto"])
    assert cfg.curriculum.name == "semantic_entropy" and cfg.curriculum.stages == 2
    cfg = compose(["method=grpo", "curriculum=semantic_entropy", "curriculum.stages=3"])   # w/ Cur, 3 stages
    assert cfg.curriculum.name == "semantic_entropy" and cfg.curriculum.stages == 3
    cfg = compose(["method=sent", "curriculum=none"])
    assert cfg.curriculum.name == "none"


def test_resolve_works_on_plain_dicts():
    """The embedded trainer resolves its plain-dict copy of the config."""
    se = OmegaConf.to_container(OmegaConf.load(SWEEPS / "curriculum" / "semantic_entropy.yaml"))
    cfg = {"method": {"name": "sent"}, "curriculum": {**se, "name": "auto", "stages": 2, "m": 8}}
    assert C.resolve_curriculum(cfg)["curriculum"]["name"] == "semantic_entropy"
    cfg = {"method": {"name": "mask"}, "curriculum": {"name": "auto", "stages": 2}}
    assert C.resolve_curriculum(cfg)["curriculum"] == {"name": "none", "stages": 1}
    with pytest.raises(C.CurriculumError, match="no curriculum node"):
        C.resolve_curriculum({"method": {"name": "sent"}})
