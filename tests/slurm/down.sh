#!/usr/bin/env bash
# Tear down the CI cluster started by tests/slurm/up.sh. Safe to run twice or after a failed
# bring-up. Signals only the PIDs recorded in $SLURM_CI_DIR/pids, after checking that each one
# really is that daemon (no pkill by name).
set -uo pipefail

SLURM_CI_DIR=${SLURM_CI_DIR:-/tmp/sent-harness-slurm}
PIDS=$SLURM_CI_DIR/pids
log() { echo "[slurm-down $(date +%T)] $*"; }

alive() {  # a PID that exists and is not a zombie
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $st && $st != Z ]]
}

stop() {  # stop <name> <binary>
    local name=$1 bin=$2 pid
    [[ -f $PIDS/$name.pid ]] || return 0
    pid=$(head -n1 "$PIDS/$name.pid" | tr -dc 0-9)
    if [[ -z $pid ]] || ! alive "$pid"; then rm -f "$PIDS/$name.pid"; return 0; fi
    if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$bin"; then
        log "PID $pid in $name.pid is not $bin; not touching it"; rm -f "$PIDS/$name.pid"; return 0
    fi
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.2; done
    if alive "$pid"; then log "$name (PID $pid) ignored SIGTERM; SIGKILL"; kill -KILL "$pid" 2>/dev/null; sleep 0.5; fi
    rm -f "$PIDS/$name.pid"
    log "stopped $name"
}

if [[ -f $PIDS/slurmctld.pid ]] && command -v scancel >/dev/null; then
    scancel --user="$(id -un)" 2>/dev/null || true
    # the sweep driver returns before SLURM has finished tearing its jobs down
    for ((i = 0; i < 50; i++)); do
        left=$(ps -eo pid=,comm= | awk '$2 == "slurmstepd" {print $1}')
        [[ -z $left ]] && break
        sleep 0.2
    done
    [[ -n ${left:-} ]] && log "slurmstepd still running after 10 s (PIDs $left); left alone"
fi
stop slurmd slurmd
stop slurmctld slurmctld
stop slurmdbd slurmdbd
stop mariadbd mariadbd
stop munged munged
exit 0
