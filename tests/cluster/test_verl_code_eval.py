"""backend=verl with LiveCodeBench in the final evaluation (Table VIII): checked before training."""

from __future__ import annotations

from pathlib import Path

import pytest

from methods import ConfigError
from tests.cluster.conftest import make_cfg

vc = pytest.importorskip("core.verl.config")
vcmd = pytest.importorskip("core.verl.commands")
SAMPLE = Path(__file__).resolve().parents[1] / "eval" / "data" / "lcb_sample.jsonl"


@pytest.fixture
def fresh_lcb():
    from core.eval import benchmarks

    benchmarks._LOADED.pop("livecodebench", None)
    yield
    benchmarks._LOADED.pop("livecodebench", None)


def test_missing_livecodebench_data_fails_the_check(tmp_path, monkeypatch, fresh_lcb):
    monkeypatch.setenv("LIVECODEBENCH_PATH", str(tmp_path / "absent"))
    cfg = make_cfg(runs_root=str(tmp_path))
    cfg.backend.eval.benchmarks = ["aime24", "livecodebench"]
    with pytest.raises(ConfigError, match="backend.eval.benchmarks: LiveCodeBench: .*absent does not exist.*"
                                          "LIVECODEBENCH_PATH"):
        vc.check(cfg)
    cfg.backend.eval.benchmarks = ["aime24", "livecodebnch"]
    with pytest.raises(ConfigError, match="Did you mean 'livecodebench'"):
        vc.check(cfg)


def test_livecodebench_reaches_the_evaluation_command(tmp_path, monkeypatch, fresh_lcb):
    monkeypatch.setenv("LIVECODEBENCH_PATH", str(SAMPLE))
    cfg = make_cfg(runs_root=str(tmp_path))
    cfg.backend.eval.benchmarks = ["aime24", "livecodebench"]
    vc.check(cfg)
    cmd = vcmd.eval_command(cfg, "/ckpt", tmp_path, 300)
    assert cmd[cmd.index("--benchmarks") + 1] == "aime24,livecodebench"
