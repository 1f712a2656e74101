#!/usr/bin/env bash
# The GPU path as far as one bare GPU machine allows, in under 10 minutes, with no network:
#
#   bash scripts/gpu_check.sh           # on a machine with one CUDA GPU and the project installed
#
# 1. nvidia-smi and torch see the GPU; the CPU patches stay off (core/verl/cpu.py: nothing patched);
# 2. tests/gpu: a CUDA training step through verl's real engine (TrainingWorker, FSDP2, bf16 mixed
#    precision, core.loss.harness_loss via the plugin) for grpo, sent and cov; chunked entropy equal
#    to the plain one with a lower peak memory at a 152K vocabulary; if vLLM is installed, the vLLM
#    evaluation (python -m core.eval --backend vllm) of the embedded base model exported as a HF
#    folder (built on the CPU in seconds: no download);
# 3. the GPU-marked tests elsewhere (tests/eval: VLLMGenerator) on the same exported model.
#
# Written on a CPU-only machine and never run there (no GPU was available): see docs/cluster.md,
# "Tested here, and not". A full main_ppo run on GPU needs vLLM 0.24 (pip install -e .[gpu]) and is
# the next step after this script passes: the CPU end-to-end test's experiment with backend.device=cuda.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
START=$SECONDS

echo "== gpu =="
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python - <<'PY'
import torch
assert torch.cuda.is_available(), "torch sees no CUDA device"
print("[gpu-check] torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0),
      "bf16", torch.cuda.is_bf16_supported())
from core.verl import cpu as verl_cpu
assert verl_cpu.install_process_patches() is False and verl_cpu.patched() == [], "CPU patches must stay off on a GPU"
import importlib.util
print("[gpu-check] vllm:", "installed" if importlib.util.find_spec("vllm") else "absent (its checks are skipped)",
      "| flash-attn:", "installed" if importlib.util.find_spec("flash_attn") else "absent (sdpa)")
PY

echo "== verl engine, bf16, chunked entropy, vLLM evaluation (tests/gpu) =="
timeout 540 python -m pytest tests/gpu -q -rs -p no:cacheprovider

echo "== other GPU tests (-m gpu) =="
MODEL_DIR="$(mktemp -d)"
trap 'rm -rf "$MODEL_DIR"' EXIT
if python -c "import vllm" 2>/dev/null; then
  python - "$MODEL_DIR/hf" <<'PY'
import sys
from core.verl import tiny as verl_tiny
from core.embedded.model import ModelSpec
spec = ModelSpec(hidden_size=64, num_layers=2, intermediate_size=128, num_heads=4, num_kv_heads=2, sft_steps=40, sft_batch=32)
print(verl_tiny.export_hf(spec, sys.argv[1]))
PY
  SENT_EVAL_TEST_MODEL="$MODEL_DIR/hf" timeout 300 python -m pytest tests/eval -q -m gpu -rs -p no:cacheprovider
else
  echo "[gpu-check] vLLM absent: tests/eval's GPU test skipped"
fi
echo "[gpu-check] done in $((SECONDS - START)) s"
