"""The GPU path as far as one bare GPU machine allows (scripts/gpu_check.sh; skipped without CUDA).

Written and reviewed on a CPU-only machine, never run there: no GPU was lent when it was written.
No network: the model is the embedded base model (smoke size, built in seconds on the CPU) exported
as a HF folder (core/verl/tiny.py), or the random tiny Qwen2 of tests/verl/test_training_worker.py.

* a CUDA training step through verl's real engine (``TrainingWorker`` with FSDP2, no CPU patches),
  in verl's default bf16 mixed precision, with ``core.loss.harness_loss`` installed by the plugin;
* chunked entropy (``entropy_from_logits_with_chunking``, what the backend sets): same values as the
  plain one, and a lower peak memory on an LLM-sized vocabulary;
* vLLM (only if installed): ``core.eval.cli --backend vllm`` on the exported model.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (scripts/gpu_check.sh)")]

REPO = Path(__file__).resolve().parents[2]


# the random tiny Qwen2 and the GRPO batch of the CPU engine test (its fixtures, reused as they are)
from tests.verl.test_training_worker import batch, model_dir  # noqa: E402,F401


@pytest.fixture(scope="module")
def cuda_worker(model_dir):
    """verl's TrainingWorker on cuda:0, one rank, verl's own platform (nothing from core/verl/cpu.py)."""
    from core.verl import cpu as verl_cpu

    assert verl_cpu.install_process_patches() is False and verl_cpu.patched() == []
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    os.environ.update({"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1",
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port})
    torch.cuda.set_device(0)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("cpu:gloo,cuda:nccl", rank=0, world_size=1)
    from verl.workers.config import FSDPEngineConfig, FSDPOptimizerConfig, HFModelConfig, TrainingWorkerConfig
    from verl.workers.engine_workers import TrainingWorker

    flash = importlib.util.find_spec("flash_attn") is not None
    model = HFModelConfig(path=model_dir, use_remove_padding=flash, enable_gradient_checkpointing=True,
                          override_config={} if flash else {"attn_implementation": "sdpa"})
    engine = FSDPEngineConfig(strategy="fsdp2", use_torch_compile=False, use_dynamic_bsz=False,
                              micro_batch_size_per_gpu=4, infer_micro_batch_size_per_gpu=4)  # bf16 compute (default)
    optim = FSDPOptimizerConfig(lr=1e-2, weight_decay=0.0, clip_grad=1.0)
    return TrainingWorker(TrainingWorkerConfig(model_type="language_model", model_config=model,
                                               engine_config=engine, optimizer_config=optim))


@pytest.mark.parametrize("method", ["grpo", "sent", "cov"])
def test_cuda_training_step_through_the_verl_engine_in_bf16(cuda_worker, batch, method):
    from core.loss import harness_loss
    from core.verl.plugin import install_loss
    from tests.verl import test_training_worker as tw

    cuda_worker.reset()
    install_loss(cuda_worker, tw._actor_config(method))
    assert cuda_worker.loss_fn.func is harness_loss
    before = tw._params(cuda_worker)
    metrics = tw._train(cuda_worker, batch["tensors"])
    after = tw._params(cuda_worker)
    assert all(p.device.type == "cuda" for p in after.values())
    for k in ("train/loss", "loss", "grad_norm", "train/entropy"):
        assert torch.isfinite(torch.tensor(float(metrics[k]))), (k, metrics[k])
    assert metrics["grad_norm"] > 0
    assert any(not torch.equal(before[n], after[n]) for n in before), "no parameter moved"
    # bf16 compute vs the fp32 entry point on the reference forward: close (not equal)
    _, direct = tw._direct_micro(tw._actor_config(method), batch)
    assert metrics["train/entropy"] == pytest.approx(direct["train/entropy"], rel=0.05, abs=0.05)


def test_chunked_entropy_same_values_less_memory():
    from verl.utils.torch_functional import entropy_from_logits, entropy_from_logits_with_chunking

    torch.manual_seed(0)
    n, vocab = 4096, 151_936  # Qwen2.5 vocabulary; bf16 logits 1.2 GB
    base = torch.randn(n, vocab, device="cuda", dtype=torch.bfloat16)

    def peak(fn):
        logits = base.clone().requires_grad_(True)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        h = fn(logits)
        h.float().sum().backward()
        torch.cuda.synchronize()
        return h.detach().float(), torch.cuda.max_memory_allocated() - start

    plain, m_plain = peak(entropy_from_logits)
    chunked, m_chunked = peak(lambda x: entropy_from_logits_with_chunking(x, chunk_size=512))
    ref = entropy_from_logits(base[:64].double())
    assert torch.allclose(chunked[:64].double(), ref, atol=2e-2)
    assert torch.allclose(plain, chunked, atol=2e-2)
    print(f"[gpu-check] entropy peak memory: plain {m_plain / 2**30:.2f} GiB, chunked(512) {m_chunked / 2**30:.2f} GiB")
    assert m_chunked < 0.75 * m_plain


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM not installed (pip install -e .[gpu])")
def test_vllm_evaluation_on_the_exported_model(tmp_path):
    from core.verl import tiny as verl_tiny
    from core.embedded.model import ModelSpec

    spec = ModelSpec(hidden_size=64, num_layers=2, intermediate_size=128, num_heads=4, num_kv_heads=2,
                     sft_steps=40, sft_batch=32)
    model = verl_tiny.export_hf(spec, tmp_path / "hf")
    out = tmp_path / "eval"
    res = subprocess.run([sys.executable, "-m", "core.eval", "--model", str(model), "--backend", "vllm",
                          "--benchmarks", "synth_1", "--n", "2", "--k", "1", "--max-new-tokens", "48", "--limit", "8",
                          "--out", str(out), "--no-progress", "--gen-arg", "gpu_memory_utilization=0.3"],
                         cwd=REPO, capture_output=True, text=True, timeout=480,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (out / "samples" / "synth_1.jsonl").exists()
