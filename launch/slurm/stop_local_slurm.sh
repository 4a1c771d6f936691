#!/usr/bin/env bash
# Project copy of the team's local-Slurm recipe; tests/test_slurm_local.py stops the cluster it started with it.
# stop_local_slurm.sh - stop the cluster started by start_local_slurm.sh.
# Only processes whose PIDs are recorded under $SLURM_LOCAL_DIR/run are
# signalled, and only if /proc/PID/comm still names the expected daemon
# (guards against PID reuse). munged is stopped only if start_local_slurm.sh
# started it. Safe to run repeatedly / when nothing is running.
#
#   SLURM_LOCAL_DIR=/tmp/slurm
#   SLURM_LOCAL_CANCEL_JOBS=1   scancel every job in the local cluster first
set -uo pipefail

DIR=${SLURM_LOCAL_DIR:-/tmp/slurm}
RUN=$DIR/run
CANCEL=${SLURM_LOCAL_CANCEL_JOBS:-1}

say() { echo "[stop_local_slurm] $*"; }
alive() {
    local pid=$1 comm=${2:-} st
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/stat ]] || return 1
    st=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ $st != Z && $st != X ]] || return 1
    [[ -z $comm || $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm" ]]
}
pid_from() { [[ -s $1 ]] && tr -dc '0-9' <"$1" || true; }

# stop NAME GRACE_SECONDS
stop() {
    local name=$1 grace=$2 f=$RUN/$1.pid pid end
    pid=$(pid_from "$f")
    if [[ -z $pid ]]; then say "$name: no pid file"; rm -f "$f"; return 0; fi
    if ! alive "$pid" "$name"; then say "$name: pid $pid not running"; rm -f "$f"; return 0; fi
    say "$name: SIGTERM $pid"
    kill -TERM "$pid" 2>/dev/null
    end=$(( $(date +%s) + grace ))
    while alive "$pid" "$name" && (( $(date +%s) < end )); do sleep 0.2; done
    if alive "$pid" "$name"; then
        say "$name: still alive after ${grace}s, SIGKILL $pid"
        kill -KILL "$pid" 2>/dev/null
        sleep 0.5
    fi
    rm -f "$f"
}

if [[ $CANCEL == 1 ]] && [[ -n $(pid_from "$RUN/slurmctld.pid") ]] && alive "$(pid_from "$RUN/slurmctld.pid")" slurmctld; then
    jobs=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')
    if [[ -n ${jobs// } ]]; then
        say "cancelling jobs: $jobs"
        scancel $jobs 2>/dev/null
        end=$(( $(date +%s) + 15 ))
        while [[ -n $(squeue -h -o %i 2>/dev/null) ]] && (( $(date +%s) < end )); do sleep 0.3; done
    fi
fi

stop slurmd 20
stop slurmctld 20
stop slurmdbd 20
stop mariadbd 60
stop munged 10   # only has a pid file if start_local_slurm.sh started it
say "done"
