#!/usr/bin/env bash
# The project's test command (README quickstart, second command).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m pytest -q "$@"
