#!/usr/bin/env bash
# .ci/run's "verl e2e" stage: the real verl engine end to end on CPU (tests/verl_e2e/test_verl_e2e.py and the
# code benchmarks through vLLM, tests/verl_e2e/test_code_eval_vllm.py); see ci_stage.sh.
set -euo pipefail
exec bash "$(dirname "$0")/ci_stage.sh" "${VERL_E2E_TIMEOUT:-1200}" tests/verl_e2e
