#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for tests and for users without a cluster.
#
#   slurm/local_cluster.sh up       install (Debian: slurmctld slurmd slurm-client munge) if
#                                   missing, write slurm.conf for this machine's cores and
#                                   memory, start munged, slurmctld and slurmd
#   slurm/local_cluster.sh down     cancel the cluster's jobs, stop the daemons that `up` started
#   slurm/local_cluster.sh status   exit 0 when the cluster answers, 1 otherwise
#
# Runs as root. State (pid files, logs, slurmctld's saved state) lives in $XLING_SLURM_STATE
# (default /var/lib/xling-slurm) and survives `down`, so job ids keep increasing across
# restarts. `up` only writes /etc/slurm/slurm.conf if that file is absent or was written here.
set -euo pipefail

STATE=${XLING_SLURM_STATE:-/var/lib/xling-slurm}
CONF=/etc/slurm/slurm.conf
MARKER="# written by xling slurm/local_cluster.sh"
PACKAGES=(slurmctld slurmd slurm-client munge)

say() { echo "local_cluster: $*"; }
die() { echo "local_cluster: error: $*" >&2; exit 1; }

alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

answers() { timeout 10 scontrol ping 2>/dev/null | grep -q "is UP"; }

apt_install() {
    # Another process may hold apt's lock: wait for it rather than fail.
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
        --no-install-recommends "${PACKAGES[@]}"
}

install_packages() {
    local missing=()
    for cmd in slurmctld slurmd sbatch munged; do
        command -v "$cmd" >/dev/null || missing+=("$cmd")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then return; fi
    command -v apt-get >/dev/null || die "${missing[*]} missing and no apt-get: install SLURM and munge yourself"
    say "installing ${PACKAGES[*]} (missing: ${missing[*]})"
    # The packages' scripts would start the daemons with their own configuration; this
    # script starts them itself, so the service starts are denied during the install.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    fi
    if ! apt_install; then
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q
        apt_install
    fi
    if [[ $made_policy -eq 1 ]]; then rm -f "$policy"; fi
}

start_munge() {
    if [[ -S /run/munge/munge.socket.2 ]] && munge -n </dev/null | unmunge >/dev/null 2>&1; then
        say "munged is already running; leaving it alone"
        return
    fi
    [[ -s /etc/munge/munge.key ]] || runuser -u munge -- mungekey --create --keyfile /etc/munge/munge.key
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- munged
    for _ in $(seq 50); do
        [[ -s /run/munge/munged.pid ]] && break
        sleep 0.1
    done
    cp /run/munge/munged.pid "$STATE/munged.pid"
}

write_conf() {
    if [[ -e $CONF ]] && ! grep -qF "$MARKER" "$CONF"; then
        die "$CONF exists and was not written by this script; refusing to replace it"
    fi
    # slurmd -C reports this machine's hardware: CPUs, sockets, cores, threads, RealMemory.
    local node
    node=$(slurmd -C | head -n 1)
    [[ $node == NodeName=* ]] || die "could not read the hardware from 'slurmd -C': $node"
    local host=${node%% *}
    host=${host#NodeName=}
    mkdir -p "$(dirname "$CONF")"
    cat >"$CONF.partial" <<EOF
$MARKER
ClusterName=xling
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# a requeued job waits cred_expire seconds (default 120) before it may start again
AuthInfo=cred_expire=20
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=1024
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# submitit's jobs ignore SIGTERM (they wait for USR2): a cancelled job is killed after 5 s, not 30
KillWait=5
# ended jobs, for 'sacct --completion' (no slurmdbd on a one-node cluster)
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.log
# USR2 reaches the job before preemption too, so submitit can requeue it
SlurmctldParameters=preempt_send_user_signal
ReturnToService=2
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
$node State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.partial" "$CONF"
    echo "$host"
}

up() {
    [[ $(id -u) -eq 0 ]] || die "run as root (it installs packages and starts daemons)"
    if alive "$STATE/slurmctld.pid" && answers; then
        say "already up"
        return
    fi
    install_packages
    mkdir -p "$STATE/ctld" "$STATE/spool"
    local host
    host=$(write_conf)
    start_munge
    slurmctld
    slurmd
    for _ in $(seq 60); do
        if answers && sinfo -h -n "$host" -o %t | grep -qE "idle|mix|alloc"; then
            say "up: node $host, $(sinfo -h -n "$host" -o '%c CPUs, %m MB'), partition local"
            return
        fi
        sleep 0.5
    done
    die "the cluster did not come up; see $STATE/slurmctld.log and $STATE/slurmd.log"
}

stop() {  # stop the daemon whose pid file is $1 (if this script started it)
    local pidfile=$1
    alive "$pidfile" || { rm -f "$pidfile"; return; }
    local pid
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
    rm -f "$pidfile"
}

down() {
    if alive "$STATE/slurmctld.pid" && answers; then
        # the jobs belong to this cluster; without slurmd they could not be managed
        scancel --quiet --partition local || true
        for _ in $(seq 60); do
            [[ -z $(squeue -h -o %i) ]] && break
            sleep 0.5
        done
    fi
    stop "$STATE/slurmd.pid"
    stop "$STATE/slurmctld.pid"
    stop "$STATE/munged.pid"
    say "down"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) answers && { say "up"; exit 0; } || { say "not running"; exit 1; } ;;
    *) die "usage: $0 up|down|status" ;;
esac
