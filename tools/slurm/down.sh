#!/usr/bin/env bash
# Stop the localhost SLURM cluster started by tools/slurm/up.sh.
# Idempotent: succeeds (exit 0) when nothing is running.
# VP_SLURM_PURGE=1 also deletes the state dir (the accounting database included) and the
# /etc/slurm symlinks up.sh made.
set -uo pipefail

DIR=${VP_SLURM_DIR:-/tmp/vp-slurm}
PURGE=${VP_SLURM_PURGE:-0}
CONF=$DIR/etc/slurm.conf
SOCK=$DIR/munge/munge.socket
export SLURM_CONF=$CONF
log() { echo "vp-slurm: $*" >&2; }

if [[ $EUID -ne 0 ]]; then log "must run as root"; exit 1; fi

if [[ -d $DIR ]]; then
    exec 9>"$DIR/.lock"
    flock -w 120 9 || log "warning: could not take $DIR/.lock; stopping anyway"
fi

# Same matching as up.sh: comm name + our path in the command line or environment.
find_ours() {
    local name=$1 needle=$2 p
    for p in /proc/[0-9]*; do
        [[ -r $p/comm ]] || continue
        [[ $(cat "$p/comm" 2>/dev/null) == "$name" ]] || continue
        { tr '\0' ' ' <"$p/cmdline"; tr '\0' ' ' <"$p/environ"; } 2>/dev/null \
            | grep -qF -- "$needle" && echo "${p#/proc/}"
    done
    return 0
}
stop_ours() {
    local pids i
    pids=$(find_ours "$1" "$2")
    [[ -n $pids ]] || return 1
    kill $pids 2>/dev/null
    for i in $(seq 1 100); do
        [[ -z $(find_ours "$1" "$2") ]] && return 0; sleep 0.1
    done
    pids=$(find_ours "$1" "$2")
    [[ -n $pids ]] && kill -9 $pids 2>/dev/null
    sleep 0.2
    return 0
}

stopped=()
# Cancel jobs first so their slurmstepd/job processes do not outlive slurmd.
if [[ -n $(find_ours slurmctld "$CONF") ]] && command -v squeue >/dev/null; then
    jobs=$(timeout 10 squeue -h -o %i 2>/dev/null || true)
    if [[ -n $jobs ]]; then
        timeout 10 scancel $jobs >/dev/null 2>&1 || true
        for i in $(seq 1 50); do
            [[ -z $(timeout 5 squeue -h -t running,completing -o %i 2>/dev/null) ]] && break
            sleep 0.2
        done
        stopped+=("jobs($(echo $jobs | wc -w))")
    fi
fi
stop_ours slurmd "$CONF" && stopped+=(slurmd)
stop_ours slurmctld "$CONF" && stopped+=(slurmctld)
stop_ours slurmdbd "SLURM_CONF=$CONF" && stopped+=(slurmdbd)
stop_ours mariadbd "$DIR/db/data" && stopped+=(mariadb)
stop_ours munged "$SOCK" && stopped+=(munged)
rm -f "$DIR"/run/*.pid "$DIR"/run/mariadb.sock "$SOCK" "$SOCK.lock" 2>/dev/null

if [[ $PURGE == 1 ]]; then
    for f in slurm.conf gres.conf; do
        [[ -L /etc/slurm/$f && $(readlink "/etc/slurm/$f") == "$DIR/etc/$f" ]] && rm -f "/etc/slurm/$f"
    done
    rm -rf "$DIR"
fi

if [[ ${#stopped[@]} -eq 0 ]]; then
    echo "vp-slurm: down (nothing was running) dir=$DIR"
else
    echo "vp-slurm: down (stopped ${stopped[*]}) dir=$DIR"
fi
exit 0
