#!/usr/bin/env bash
# CI check of the cluster path on a real single-node SLURM (started here, torn down on exit):
#   1. bring up SLURM on localhost (tests/slurm/up.sh: Debian packages, munge, slurmdbd, slurmctld, slurmd)
#   2. a sweep through sbatch as one job array (hydra/launcher=slurm), results checked
#   3. re-running the finished sweep submits nothing (DONE present)
#   4. a bad sweep (GPUs for the embedded backend) is refused before submission
#   5. preemption: one job requeued by `scontrol requeue`, one by SIGUSR2 (submitit checkpoints and
#      requeues it); both resume from their checkpoints and end with exactly the lines and final
#      metrics of an uninterrupted run (run without SLURM)
#   6. backend.nnodes: a real job's node list parsed into the Ray start commands (python -m core.verl.ray_cluster);
#      a run over more nodes than the partition has refused before submission (one node here: no multi-node job)
# Needs root or sudo (a throwaway CI machine: it installs packages and starts daemons). Budget: ~2-3 min.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
export SLURM_CI_DIR=${SLURM_CI_DIR:-/tmp/sent-harness-slurm}
WORK=$(mktemp -d /tmp/sent-harness-slurm-ci.XXXXXX)
export PYTHONPATH=$REPO${PYTHONPATH:+:$PYTHONPATH}
T0=$SECONDS
SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo -E"

log() { echo "[slurm-ci $(date +%T) +$((SECONDS - T0))s] $*"; }
fail() { echo "[slurm-ci] FAIL: $*" >&2; exit 1; }
cleanup() {
    local rc=$?
    if ((rc != 0)); then
        echo "---- slurmctld log (tail) ----" >&2; tail -n 30 "$SLURM_CI_DIR/log/slurmctld.log" 2>/dev/null >&2 || true
        for f in "$WORK"/runs/*/.hydra/.submitit/*/*_log.err; do [[ -f $f ]] && { echo "---- $f ----" >&2; tail -n 20 "$f" >&2; }; done
    fi
    $SUDO bash "$REPO/tests/slurm/down.sh" || true
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT

# The embedded smoke sweep (preset=smoke: CI-sized model and run) through the SLURM launcher.
APP=(python sweep.py)
# (a smaller evaluation than the smoke preset's, to keep CI short; 40 steps (~0.2 s each) so that
# both array tasks, which start a few seconds apart, can be interrupted between their step-2
# checkpoint and their end: with 12 steps the first task sometimes finished before the second began)
STEPS=40
COMMON=(preset=smoke runs_root="$WORK/runs" "eval.benchmarks=[synth_1,synth_6]" eval.limit=2 eval.every=10
        train.steps=$STEPS)
SLURM=(hydra/launcher=slurm hydra.launcher.partition=debug hydra.launcher.cpus_per_task=1 hydra.launcher.mem_gb=2
       hydra.launcher.timeout_min=30)
rdir() {  # rdir <sweep> <method>: the run directory (its name also carries the eval overrides)
    compgen -G "$WORK/runs/$1/*method=$2,*" | head -n1 || true
}
same_run() {  # same_run <interrupted run dir> <reference run dir>: same steps, metrics, samples, DONE
    python - "$1" "$2" <<'PY'
import json, math, sys
from pathlib import Path
a, b = map(Path, sys.argv[1:])
def rows(p):
    return [{k: v for k, v in json.loads(l).items() if not k.startswith("time/")}
            for l in p.read_text().splitlines() if l.strip()]
def close(x, y, where):
    if isinstance(x, float) or isinstance(y, float):
        # float reductions may differ in the last bits after a restart; anything larger is a resume bug
        assert math.isclose(x, y, rel_tol=1e-5, abs_tol=1e-9), f"{where}: {x} != {y}"
    else:
        assert x == y, f"{where}: {x!r} != {y!r}"
ra, rb = rows(a / "train.jsonl"), rows(b / "train.jsonl")
assert [r["step"] for r in ra] == [r["step"] for r in rb], "steps differ"
for x, y in zip(ra, rb):
    assert x.keys() == y.keys(), f"step {x['step']}: keys differ"
    for k in x:
        close(x[k], y[k], f"train.jsonl step {x['step']} {k}")
for s in sorted((b / "samples").glob("*.jsonl")):
    assert (a / "samples" / s.name).read_text() == s.read_text(), f"samples/{s.name} differs"
da, db = (json.loads((p / "DONE").read_text()) for p in (a, b))
assert da["steps"] == db["steps"] and da["eval"] == db["eval"], "DONE steps/eval differ"
for k, v in db["final"].items():
    if not k.startswith("time/"):
        close(da["final"][k], v, f"DONE final {k}")
PY
}

log "bringing up SLURM"
$SUDO bash tests/slurm/up.sh

# ---- 2. a grid as one job array --------------------------------------------------------------
log "sweep: method=grpo,sent (embedded smoke) through sbatch"
timeout 300 "${APP[@]}" -m "${SLURM[@]}" "${COMMON[@]}" sweep_name=grid method=grpo,sent seed=0 \
    >"$WORK/grid.log" 2>&1 || { tail -n 40 "$WORK/grid.log"; fail "grid sweep failed"; }
for m in grpo sent; do
    R=$(rdir grid $m); [[ -n $R ]] || fail "$m: no run directory"
    for f in DONE config.yaml meta.json train.jsonl samples/synth_1.jsonl; do [[ -s $R/$f ]] || fail "$m: $f missing"; done
    [[ $(wc -l <"$R/train.jsonl") -eq $STEPS ]] || fail "$m: expected $STEPS train.jsonl lines"
done
# submitit keeps one folder <array job>_<task> per array task
mapfile -t task_dirs < <(ls "$WORK/runs/grid/.hydra/.submitit" | grep -E '^[0-9]+_[0-9]+$' | sort)
arrays=$(printf '%s\n' "${task_dirs[@]}" | cut -d_ -f1 | sort -u | wc -l)
[[ $arrays -eq 1 && ${#task_dirs[@]} -eq 2 ]] || fail "expected one array job with 2 tasks, found: ${task_dirs[*]}"
log "ok: 2 runs finished as the 2 tasks of one array job"

# ---- 3. finished runs are skipped ----------------------------------------------------------------
timeout 120 "${APP[@]}" -m "${SLURM[@]}" "${COMMON[@]}" sweep_name=grid method=grpo,sent seed=0 \
    >"$WORK/grid2.log" 2>&1 || { tail -n 40 "$WORK/grid2.log"; fail "re-run failed"; }
grep -q "2 of 2 runs are finished and not submitted" "$WORK/grid2.log" || { tail -n 40 "$WORK/grid2.log"; fail "finished runs were resubmitted"; }
log "ok: re-running the finished sweep submitted nothing"

# ---- 4. bad input is refused before submission ----------------------------------------------------
before=$(sacct -n -X -o JobID | wc -l)
if timeout 120 "${APP[@]}" -m "${SLURM[@]}" "${COMMON[@]}" sweep_name=bad hydra.launcher.gpus_per_node=1 seed=0,1 \
    >"$WORK/bad.log" 2>&1; then fail "a GPU request for the embedded backend was accepted"; fi
grep -q "GPU(s) requested .* for backend=embedded" "$WORK/bad.log" || { tail -n 20 "$WORK/bad.log"; fail "unclear error"; }
if timeout 120 "${APP[@]}" -m "${SLURM[@]}" "${COMMON[@]}" sweep_name=bad backend=verl seed=0,1 \
    >"$WORK/bad2.log" 2>&1; then fail "backend=verl with model=tiny was accepted"; fi
grep -q "model='tiny' is not a verl-backend model" "$WORK/bad2.log" || { tail -n 20 "$WORK/bad2.log"; fail "unclear error"; }
[[ $(sacct -n -X -o JobID | wc -l) -eq $before ]] || fail "something was submitted"
log "ok: GPUs for backend=embedded and model=tiny for backend=verl refused before submission"

# ---- 5. requeue + resume == uninterrupted --------------------------------------------------------
log "preemption: the same two runs again, interrupted mid-run (scontrol requeue / SIGUSR2)"
timeout 400 "${APP[@]}" -m "${SLURM[@]}" "${COMMON[@]}" sweep_name=pre method=grpo,sent seed=0 \
    >"$WORK/pre.log" 2>&1 &
driver=$!
lines() { [[ -n $1 && -f $1/train.jsonl ]] && wc -l <"$1/train.jsonl" || echo 0; }
for ((i = 0; i < 1500; i++)); do
    A=$(rdir pre grpo); B=$(rdir pre sent)
    [[ $(lines "$A") -ge 3 && $(lines "$B") -ge 3 ]] && break
    kill -0 $driver 2>/dev/null || { tail -n 40 "$WORK/pre.log"; fail "driver exited early"; }
    sleep 0.2
done
[[ $(lines "$A") -ge 3 && $(lines "$B") -ge 3 ]] || fail "the runs did not reach their step-2 checkpoint"
mapfile -t jobs < <(squeue -h -o '%i' | sort)
[[ ${#jobs[@]} -eq 2 ]] || fail "expected 2 running jobs, squeue shows ${#jobs[@]}"
[[ $(lines "$A") -lt $STEPS && $(lines "$B") -lt $STEPS ]] || fail "runs finished before they could be interrupted"
log "scontrol requeue ${jobs[0]}; SIGUSR2 to ${jobs[1]} (runs at steps $(lines "$A") and $(lines "$B") of $STEPS)"
scontrol requeue "${jobs[0]}"
scancel --signal=USR2 "${jobs[1]}"
wait $driver || { tail -n 40 "$WORK/pre.log"; fail "the preempted sweep failed"; }
for j in "${jobs[@]}"; do
    restarts=$(sacct -n -X -D -j "$j" -o JobID | wc -l)
    [[ $restarts -ge 2 ]] || fail "job $j was not requeued (sacct shows $restarts record(s))"
done
for m in grpo sent; do
    P=$(rdir pre $m); R=$(rdir grid $m)
    same_run "$P" "$R" || fail "$m: the interrupted run does not match the uninterrupted one"
done
log "ok: both interrupted runs were requeued, resumed from their step-2 checkpoints and match the uninterrupted runs"
# ---- 6. several nodes per run (backend.nnodes): what a one-node SLURM can show ---------------------
# a real job that asks for its nodes; its SLURM_JOB_NODELIST parsed into the Ray start commands
jid=$(timeout 120 sbatch --parsable --wait -p debug -N 1 --ntasks-per-node=1 -c 1 --mem=512M -o "$WORK/nodes.out" \
    --wrap "$(command -v python) -m core.verl.ray_cluster --num-gpus 0") || { cat "$WORK/nodes.out"; fail "node-list job failed"; }
grep -q "^node 0 $(hostname -s)\|^node 0 localhost" "$WORK/nodes.out" && grep -q -- "ray start --head --block" "$WORK/nodes.out" \
    || { cat "$WORK/nodes.out"; fail "the job's node list did not become a ray start command"; }
# a run over more nodes than the partition has is refused before submission, with the real sinfo
if timeout 120 "${APP[@]}" -m "${SLURM[@]}" sweep_name=bad +experiment=verl_cpu_e2e runs_root="$WORK/runs" \
    backend.nnodes=2 seed=0,1 >"$WORK/bad3.log" 2>&1; then fail "backend.nnodes=2 on a one-node partition was accepted"; fi
grep -q "2 nodes per run but partition 'debug' has 1" "$WORK/bad3.log" || { tail -n 20 "$WORK/bad3.log"; fail "unclear error"; }
[[ -z $(squeue -h -o %i) && $(sacct -n -X -o JobID | awk -v j="${jid%%;*}" '$1 + 0 > j' | wc -l) -eq 0 ]] \
    || fail "something was submitted after job $jid"
log "ok: a job's node list became the ray start commands; 2 nodes per run on a 1-node partition refused"

log "all SLURM checks passed in $((SECONDS - T0)) s"
