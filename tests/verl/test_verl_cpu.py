"""core/verl/cpu.py: refuses to run next to a GPU, and undoes every patch."""

from __future__ import annotations

import os

import pytest
import torch

from core.verl.cpu import disable_cpu_training, enable_cpu_training


def test_refuses_when_cuda_is_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(RuntimeError, match="CPU-only machines"):
        enable_cpu_training()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU route only")
def test_enable_then_disable_restores_verl():
    import verl.plugin.platform.platform_manager as pm
    import verl.workers.engine.fsdp.transformer_impl as fsdp_impl
    from verl.utils.device import get_device_name, get_nccl_backend, get_torch_device
    from verl.workers.engine import EngineRegistry

    platform, dist, env = pm._current_platform, torch.distributed.is_initialized(), os.environ.get("MASTER_PORT")
    enable_cpu_training()
    try:
        assert (get_device_name(), get_nccl_backend(), fsdp_impl.device_name) == ("cpu", "gloo", "cpu")
        assert get_torch_device().max_memory_allocated() == 0
        assert torch.distributed.is_initialized() and torch.distributed.get_backend() == "gloo"
        assert EngineRegistry.get_engine_cls("language_model", "fsdp2") is fsdp_impl.FSDPEngineWithLMHead
        enable_cpu_training()  # idempotent
    finally:
        disable_cpu_training()
    assert pm._current_platform is platform
    assert torch.distributed.is_initialized() == dist
    assert os.environ.get("MASTER_PORT") == env
    assert "cpu" not in EngineRegistry._engines["language_model"]["fsdp2"]
    assert pm.PlatformRegistry.get("cpu") is None
