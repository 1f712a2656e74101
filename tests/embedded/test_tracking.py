"""logger=[tensorboard] on the embedded backend: verl's Tracking writes event files that mirror train.jsonl."""

from __future__ import annotations

import json

import pytest

from core.embedded import trainer
from methods import ConfigError
from tests.embedded.conftest import smoke


def test_tensorboard_mirrors_train_jsonl(tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.delenv("TENSORBOARD_DIR", raising=False)
    run = tmp_path / "run"
    trainer.run(smoke("method=grpo", "logger=[tensorboard]", "train.steps=2", "eval.every=2"), run)
    events = list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert events, "no TensorBoard event file under <run_dir>/tensorboard"
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    rows = [json.loads(line) for line in (run / "train.jsonl").read_text().splitlines()]
    for key in ("train/reward", "train/loss", "train/entropy", "train/grad_norm"):
        logged = {e.step: e.value for e in acc.Scalars(key)}
        assert logged == pytest.approx({r["step"]: r[key] for r in rows}, rel=1e-6), key


def test_unknown_logger_is_refused_with_the_valid_names(tmp_path):
    with pytest.raises(ConfigError, match="unknown to verl's Tracking; use any of .*tensorboard"):
        trainer.run(smoke("method=grpo", "logger=[tensorbored]"), tmp_path / "run")
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())
