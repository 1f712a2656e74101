#!/usr/bin/env bash
# Bring up a real single-node SLURM on this machine (Debian packages, no systemd), for CI.
#
#   sudo bash tests/slurm/up.sh        # root required; a throwaway VM/container only (it writes
#                                      # /etc/slurm, /etc/munge and starts daemons as root)
#   bash tests/slurm/down.sh           # tear down (also run by ci_slurm.sh on exit)
#
# Daemons: munged, mariadbd (unix socket only) + slurmdbd (accounting: submitit polls sacct, and a
# cancelled job then fails in seconds instead of hanging), slurmctld, slurmd. Everything listens on
# 127.0.0.1 only. State, logs and PID files live in $SLURM_CI_DIR (wiped on each bring-up; the
# accounting DB is recreated with it so job ids are never matched to stale records).
set -euo pipefail

SLURM_CI_DIR=${SLURM_CI_DIR:-/tmp/sent-harness-slurm}
PKGS=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
DB_PASS=${SLURM_CI_DB_PASS:-ci-$$-$RANDOM}

log() { echo "[slurm-up $(date +%T)] $*"; }
die() { echo "[slurm-up] ERROR: $*" >&2; exit 1; }
wait_for() {  # wait_for <seconds> <description> <command...>
    local t=$1 what=$2; shift 2
    for ((i = 0; i < t * 5; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    die "timed out after ${t}s waiting for $what"
}

[[ $(id -u) -eq 0 ]] || die "run as root (it installs packages and starts system daemons)"

# ---- packages ------------------------------------------------------------------------------
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    # keep the packages' maintainer scripts from starting services (no systemd here)
    added_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; added_policy=1; fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
    ((added_policy)) && rm -f /usr/sbin/policy-rc.d
fi

# ---- host sanity: daemons bind to the address the short hostname resolves to ----------------
HOST=$(hostname -s)
ADDR=$(getent hosts "$HOST" | awk '{print $1; exit}')
[[ $ADDR == 127.* ]] || die "hostname $HOST resolves to '${ADDR:-nothing}', not 127.x; refusing to start daemons that would listen on a public address (add '127.0.0.1 $HOST' to /etc/hosts)"

# ---- scratch ---------------------------------------------------------------------------------
if [[ -f $SLURM_CI_DIR/pids/slurmctld.pid ]]; then die "a cluster from $SLURM_CI_DIR seems to be up; run tests/slurm/down.sh first"; fi
rm -rf "$SLURM_CI_DIR"
mkdir -p "$SLURM_CI_DIR"/{state,spool,log,pids}
read -r CPUS SOCKETS CORES THREADS MEM < <(slurmd -C | tr ' ' '\n' | awk -F= '
    /^CPUs=/{c=$2} /^SocketsPerBoard=/{s=$2} /^CoresPerSocket=/{k=$2} /^ThreadsPerCore=/{t=$2} /^RealMemory=/{m=$2}
    END{print c, s, k, t, m}')
MEM=$((MEM > 1024 ? MEM - 512 : MEM))

# ---- munge -----------------------------------------------------------------------------------
mkdir -p /run/munge && chown munge:munge /run/munge && chmod 0755 /run/munge
if [[ ! -s /etc/munge/munge.key ]]; then sudo -u munge mungekey --create 2>/dev/null || runuser -u munge -- mungekey --create; fi
chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
log "starting munged"
runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
wait_for 10 "munge" bash -c 'munge -n | unmunge'
cp /run/munge/munged.pid "$SLURM_CI_DIR/pids/munged.pid"

# ---- mariadb + slurmdbd (accounting) ------------------------------------------------------------
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
log "starting mariadbd (unix socket only)"
setsid nohup /usr/sbin/mariadbd --user=mysql --skip-networking --pid-file=/run/mysqld/mysqld.pid \
    >"$SLURM_CI_DIR/log/mariadbd.log" 2>&1 < /dev/null &
wait_for 30 "mariadb" mariadb -e 'select 1'
cp /run/mysqld/mysqld.pid "$SLURM_CI_DIR/pids/mariadbd.pid"
mariadb <<SQL
DROP DATABASE IF EXISTS slurm_acct_db;
CREATE DATABASE slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
SQL

mkdir -p /etc/slurm
cat >/etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=$HOST
DbdAddr=127.0.0.1
DbdPort=6819
CommunicationParameters=NoInAddrAny
SlurmUser=root
LogFile=$SLURM_CI_DIR/log/slurmdbd.log
PidFile=$SLURM_CI_DIR/pids/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
chmod 600 /etc/slurm/slurmdbd.conf

cat >/etc/slurm/slurm.conf <<EOF
# written by tests/slurm/up.sh (single-node CI cluster on 127.0.0.1)
ClusterName=ci
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=cred_expire=10
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
SlurmctldPort=6817
SlurmdPort=6818
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=$HOST
AccountingStoragePort=6819
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_interval=1
ReturnToService=2
MinJobAge=300
KillWait=5
DefMemPerCPU=512
MailProg=/bin/true
StateSaveLocation=$SLURM_CI_DIR/state
SlurmdSpoolDir=$SLURM_CI_DIR/spool
SlurmctldLogFile=$SLURM_CI_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_CI_DIR/log/slurmd.log
SlurmctldPidFile=$SLURM_CI_DIR/pids/slurmctld.pid
SlurmdPidFile=$SLURM_CI_DIR/pids/slurmd.pid
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS Sockets=$SOCKETS CoresPerSocket=$CORES ThreadsPerCore=$THREADS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

log "starting slurmdbd"
/usr/sbin/slurmdbd
wait_for 30 "slurmdbd" sacctmgr -n list cluster
sacctmgr -i add cluster ci >/dev/null 2>&1 || true

log "starting slurmctld and slurmd"
/usr/sbin/slurmctld -i
/usr/sbin/slurmd
wait_for 30 "node $HOST idle" bash -c "sinfo -h -N -o '%t' | grep -qx idle"

# ---- smoke -----------------------------------------------------------------------------------
srun -t 1 hostname >/dev/null || die "srun failed"
jid=$(sbatch --parsable -t 1 -o "$SLURM_CI_DIR/log/smoke-%j.out" --wrap true)
wait_for 30 "job $jid COMPLETED in sacct" bash -c "sacct -n -X -j $jid -o State | grep -q COMPLETED"
log "SLURM is up: partition debug, node $HOST ($CPUS CPUs, ${MEM} MB), accounting on (scratch $SLURM_CI_DIR)"
