#!/usr/bin/env bash
# Stop the test cluster of tools/slurm/up.sh: cancel its jobs, stop slurmd and slurmctld (and munged when
# up.sh started it) through their pid files, each checked against /proc/PID/comm, never by name; then remove
# $RV_SLURM_ROOT. Safe to run at any time, also twice, also after a failed up.sh.
#   RV_SLURM_ROOT=/tmp/rv-slurm   as for up.sh
#   RV_SLURM_KEEP=1               keep the folder (its logs) instead of removing it
set -uo pipefail
ROOT="${RV_SLURM_ROOT:-/tmp/rv-slurm}"
RUN="$ROOT/run"
export SLURM_CONF="$ROOT/slurm.conf"
log() { printf '[rv-slurm down %s] %s\n' "$(date +%T)" "$*"; }

# stop PIDFILE COMM: TERM the process the pid file names if it is COMM; KILL after 30 s
stop() {
  local pf=$1 comm=$2 pid
  [ -s "$pf" ] || return 0
  pid=$(cat "$pf")
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$comm" ]; then log "$comm: $pf is stale (pid $pid is not $comm)"; rm -f "$pf"; return 0; fi
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 300); do [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || break; grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && break; sleep 0.1; done
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
    log "$comm: pid $pid ignored SIGTERM for 30 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null; sleep 0.5
  fi
  rm -f "$pf"; log "$comm: pid $pid stopped"
}

if [ -f "$SLURM_CONF" ] && [ -s "$RUN/slurmctld.pid" ] && scontrol ping 2>/dev/null | grep -q 'is UP'; then
  jobs=$(squeue -h -o '%A' 2>/dev/null | sort -u | tr '\n' ' ')
  if [ -n "${jobs// /}" ]; then
    log "cancelling jobs: $jobs"
    scancel $jobs 2>/dev/null || true
    for _ in $(seq 150); do [ -z "$(squeue -h -o '%A' 2>/dev/null)" ] && break; sleep 0.2; done
  fi
fi
stop "$RUN/slurmd.pid" slurmd & a=$!
stop "$RUN/slurmctld.pid" slurmctld & b=$!
wait $a; wait $b
[ -s "$RUN/munged.started" ] && stop "$RUN/munged.started" munged

rc=0
left=$(ps -eo pid=,stat=,comm= | awk '$2 !~ /^Z/ && ($3 == "slurmstepd")')
if [ -n "$left" ]; then log "WARNING: job steps still running:"; echo "$left"; rc=1; fi
if [ -f "$ROOT/.rv-slurm-root" ] && [ "${RV_SLURM_KEEP:-0}" != 1 ]; then rm -rf "$ROOT"; fi
log "down"
exit $rc
