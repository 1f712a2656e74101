#!/usr/bin/env bash
# .ci/run's "verl two nodes" stage: one verl run across two Ray nodes on this machine, through the SLURM
# path of backend.nnodes=2 (tests/verl_e2e/test_two_nodes.py; 2 steps of the e2e test's run, ~3 min on
# 2 cores). The same virtualenv, timeout and PID cleanup as the "verl e2e" stage (ci_stage.sh).
set -euo pipefail
export E2E_TWO_NODES=1
exec bash "$(dirname "$0")/ci_stage.sh" "${VERL_TWO_NODES_TIMEOUT:-900}" tests/verl_e2e/test_two_nodes.py
