#!/usr/bin/env bash
# Installs the project (CPU torch first, then `pip install -e .[dev]`) unless it is already importable,
# so that each quickstart command works on a fresh machine. Sourced by run_default.sh and test.sh.
if ! python - >/dev/null 2>&1 <<'PY'
import importlib.metadata as md
md.version("sent-harness")
import torch, verl, hydra, math_verify  # noqa: F401
PY
then
  echo "[setup] installing the project (CPU torch 2.13.0, then pip install -e '.[dev]'; a few minutes once)" >&2
  python -m pip install -q "torch==2.13.0"
  python -m pip install -q -e ".[dev]"
fi
