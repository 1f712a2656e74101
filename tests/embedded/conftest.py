"""Shared fixtures: a private model cache and Hydra configs composed like ``sweep.py`` does."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One base-model cache for the whole session (the smoke model is built once, in seconds)."""
    return tmp_path_factory.mktemp("sent-harness-cache")


@pytest.fixture(autouse=True)
def _private_cache(cache_dir, monkeypatch):
    monkeypatch.setenv("SENT_HARNESS_CACHE", str(cache_dir))


def compose(*overrides: str):
    """The job config ``python sweep.py <overrides>`` would run (Hydra compose API)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import sweep  # noqa: F401 - registers the generated method group

    with initialize_config_dir(config_dir=str(REPO / "sweeps"), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


def smoke(*overrides: str):
    return compose("preset=smoke", *overrides)
