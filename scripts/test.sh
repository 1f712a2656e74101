#!/usr/bin/env bash
# The project's test command (README quickstart, second command).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_installed.sh
exec python -m pytest -q "$@"
