#!/usr/bin/env bash
# README quickstart, first command: the embedded default sweep (8 methods x 3 seeds on CPU, the shipped
# base model, the calibrated per-scale settings of sweeps/method_scale/; a quick tour, no ranking claim), then the
# analysis. Two jobs run side by side with one torch thread each (2 cores); each job is one
# `python sweep.py -m` process running its half of the grid with Hydra's basic launcher (no process
# start-up per run). Relaunching skips finished runs and resumes interrupted ones.
#   RUNS_ROOT=runs SEEDS=0,1,2 OUT=paper_figs/ bash scripts/run_default.sh [extra Hydra overrides]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_installed.sh
RUNS_ROOT="${RUNS_ROOT:-runs}"
SEEDS="${SEEDS:-0,1,2}"
OUT="${OUT:-paper_figs/}"
EXTRA=("$@")   # extra Hydra overrides for every run, e.g. preset=smoke

echo "[run_default] base model (the shipped data/models/tiny/: loaded and checksummed, not built)"
python -m core.embedded --threads 2 "${EXTRA[@]}"

# two halves of similar cost (methods with a reference model do one more forward pass per step)
HALF1="grpo,en,mask,clip"
HALF2="adv,cov,high_en,sent"
start=$(date +%s)
pids=()
for methods in "$HALF1" "$HALF2"; do
  python sweep.py -m "method=$methods" "seed=$SEEDS" "runs_root=$RUNS_ROOT" backend.threads=1 \
    backend.progress=false "${EXTRA[@]}" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
echo "[run_default] sweep finished in $(( $(date +%s) - start )) s (exit status $status)"
[ "$status" -eq 0 ] || exit "$status"

# the committed analysis of the discriminating preset (docs/discriminating.md) is linked from the default's index
SEE_ALSO=()
if [ "${OUT%/}" = paper_figs ] && [ -f paper_figs_discriminating/index.md ]; then
  SEE_ALSO=(--see-also "the discriminating preset (docs/discriminating.md)=../paper_figs_discriminating/index.md")
fi
python -m analysis "$RUNS_ROOT/default" --out "$OUT" "${SEE_ALSO[@]}"
