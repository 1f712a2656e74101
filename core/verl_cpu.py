"""Run verl 0.9.1's real training engine on a CPU-only machine (tests and CI only).

verl's engine workers assume an accelerator. :func:`enable_cpu_training` applies the smallest set of
process-local patches that lets ``TrainingWorker`` build its FSDP2 engine and run
``train_mini_batch`` on CPU, without Ray; :data:`CPU_ENGINE` and :data:`CPU_MODEL_OVERRIDES` are the
config values CPU needs. Used by ``tests/verl`` only. It refuses to run where CUDA is available: on a
GPU machine verl's own platform is used, unpatched. No verl file is edited; the platform goes through
verl's ``PlatformRegistry``, and :func:`disable_cpu_training` undoes everything.
"""

from __future__ import annotations

import os
import socket
import types
from contextlib import nullcontext
from typing import Callable

import torch

__all__ = ["enable_cpu_training", "disable_cpu_training", "CPU_ENGINE", "CPU_MODEL_OVERRIDES"]

#: FSDPEngineConfig values for CPU: FSDP1 refuses CPU parameters ("sync_module_states=True"); without
#: an fp32 param_dtype the engine autocasts to bf16; torch.compile of the entropy costs seconds per shape.
CPU_ENGINE = {"strategy": "fsdp2", "use_torch_compile": False,
              "mixed_precision": {"param_dtype": "fp32", "reduce_dtype": "fp32", "buffer_dtype": "fp32"}}
#: HFModelConfig.override_config: verl defaults to flash_attention_2, which does not exist on CPU.
CPU_MODEL_OVERRIDES = {"attn_implementation": "sdpa"}

_UNDO: list[Callable[[], None]] = []


def _device_module() -> types.ModuleType:
    """``torch.cpu`` plus the CUDA-only calls verl makes unconditionally (memory stats, device name)."""
    mod = types.ModuleType("verl_cpu_device")
    mod.__dict__.update({k: getattr(torch.cpu, k) for k in dir(torch.cpu) if not k.startswith("_")})
    zero, none = (lambda *a, **k: 0), (lambda *a, **k: None)  # no caching allocator on CPU
    mod.__dict__.update(max_memory_allocated=zero, max_memory_reserved=zero, memory_allocated=zero,
                        memory_reserved=zero, mem_get_info=lambda *a, **k: (0, 0), empty_cache=none,
                        reset_peak_memory_stats=none, set_per_process_memory_fraction=none,
                        get_device_name=lambda *a, **k: "CPU", manual_seed=torch.manual_seed,
                        manual_seed_all=torch.manual_seed, get_rng_state=torch.get_rng_state,
                        set_rng_state=torch.set_rng_state, is_available=lambda: True)
    return mod


def _platform():
    from verl.plugin.platform.platform_base import PlatformBase

    class PlatformCPU(PlatformBase):
        """Without it verl falls back to 'nvidia': device 'cuda', backend nccl, get_device_id() raises."""

        device_name = vendor_name = "cpu"
        device_module = _device_module()
        is_available = is_platform_available = lambda self, *a, **k: True
        current_device = lambda self: "cpu"  # a .to() / torch.device target
        device_count = lambda self: 1
        set_device = synchronize = set_allocator_settings = empty_cache = lambda self, *a, **k: None
        profiler_start = profiler_stop = lambda self: None
        manual_seed = manual_seed_all = lambda self, seed: torch.manual_seed(seed)
        get_device_capability = lambda self, i=0: (None, None)
        communication_backend_name = lambda self: "gloo"
        visible_devices_envvar = lambda self: "CUDA_VISIBLE_DEVICES"
        ray_resource_name = lambda self: "CPU"
        ray_noset_envvars = lambda self: []
        is_ipc_supported = lambda self: False
        cudart = lambda self: None
        nvtx_range = lambda self, msg: nullcontext()

    return PlatformCPU


def enable_cpu_training() -> None:
    """Patch verl in this process so ``TrainingWorker`` trains on CPU (idempotent).

    Raises ``RuntimeError`` where CUDA is available, so these stand-ins never reach a GPU run.
    """
    if torch.cuda.is_available():
        raise RuntimeError("core.verl_cpu.enable_cpu_training() is for CPU-only machines (tests/CI); CUDA is "
                           "available here, so let verl use its own platform and do not call it.")
    if _UNDO:
        return
    import verl.plugin.platform.platform_manager as pm
    import verl.workers.engine.fsdp.transformer_impl as fsdp_impl
    from verl.workers.engine import EngineRegistry

    # 1. a CPU platform: device name 'cpu', backend gloo, memory/rng stand-ins
    previous = pm._current_platform
    pm.set_platform(pm.PlatformRegistry.register("cpu")(_platform())())
    _UNDO.append(lambda: (pm.PlatformRegistry._platforms.pop("cpu", None),
                          setattr(pm, "_current_platform", previous)))
    # 2. verl's Worker reads the rendezvous from the environment (Ray sets it on a cluster)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    env = {"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1",
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    _UNDO.append(lambda: [os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
                          for k, v in saved.items()])
    # 3. a plain gloo group first: verl would ask for "cpu:gloo,cpu:gloo", which torch rejects
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("gloo", rank=0, world_size=1)
        _UNDO.append(torch.distributed.destroy_process_group)
    # 4. the FSDP engines are registered for devices cuda/npu only: add them under 'cpu'; the module
    #    also cached the device name at import (it builds its device mesh with it)
    added = []
    for backends in EngineRegistry._engines.values():
        for name in ("fsdp", "fsdp2"):
            if "cuda" in backends.get(name, {}) and "cpu" not in backends[name]:
                backends[name]["cpu"] = backends[name]["cuda"]
                added.append(backends[name])
    cached = fsdp_impl.device_name
    fsdp_impl.device_name = "cpu"
    _UNDO.append(lambda: ([b.pop("cpu") for b in added], setattr(fsdp_impl, "device_name", cached)))


def disable_cpu_training() -> None:
    """Undo :func:`enable_cpu_training` (platform and its registration, environment, process group,
    engine registry)."""
    while _UNDO:
        _UNDO.pop()()
