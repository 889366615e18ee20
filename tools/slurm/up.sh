#!/usr/bin/env bash
# Start a throw-away one-node SLURM cluster (munged, slurmctld, slurmd) for role-vectors' tests, on Debian
# without systemd, as root. Everything of the cluster lives under $RV_SLURM_ROOT (config, state, logs, pid
# files); the system's /etc/slurm is never touched, and clients find the cluster through SLURM_CONF:
#     export SLURM_CONF=$RV_SLURM_ROOT/slurm.conf
# Stop it with tools/slurm/down.sh (always: from a trap or a `finally`, also when this script failed).
#
#   RV_SLURM_ROOT=/tmp/rv-slurm   where the cluster lives (down.sh removes it)
#   RV_SLURM_INSTALL=1            apt-get install the packages when slurmctld is missing
#   RV_SLURM_PORT=16817           slurmctld's port; slurmd uses the next one (not 6817: leave a real cluster alone)
#   RV_SLURM_TIMEOUT=60           seconds to wait for the node to be idle
# Exit status: 0 up; 3 SLURM cannot be had here (not root, no apt-get, install failed): skip the tests; 1 error.
set -euo pipefail

ROOT="${RV_SLURM_ROOT:-/tmp/rv-slurm}"
PORT="${RV_SLURM_PORT:-16817}"
HOST="$(hostname -s)"                # slurmctld only runs where SlurmctldHost is its own short host name
CONF="$ROOT/slurm.conf"
RUN="$ROOT/run"
MUNGE_PID=/run/munge/munged.pid      # munged is the system's: one per machine
PACKAGES="slurmctld slurmd slurm-client munge"

log() { printf '[rv-slurm up %s] %s\n' "$(date +%T)" "$*"; }
die() {
  log "ERROR: $*"
  for f in "$ROOT/log/slurmctld.log" "$ROOT/log/slurmd.log" /var/log/munge/munged.log; do
    [ -f "$f" ] && { echo "--- last lines of $f"; tail -n 20 "$f"; }
  done
  exit 1
}
skip() { log "cannot start SLURM here: $*"; exit 3; }
# alive PIDFILE COMM: the pid file names a live process called COMM (a stale pid file never matches)
alive() { [ -s "$1" ] && [ "$(cat "/proc/$(cat "$1")/comm" 2>/dev/null)" = "$2" ]; }

[ "$(id -u)" = 0 ] || skip "not root (the test cluster runs its daemons as root)"
if alive "$RUN/slurmctld.pid" slurmctld || alive "$RUN/slurmd.pid" slurmd; then
  die "a test cluster is already running under $ROOT: run tools/slurm/down.sh first"
fi

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  die "port $PORT is in use (another test cluster? stop it with its RV_SLURM_ROOT, or set RV_SLURM_PORT)"
fi

# ---- packages (Debian's: SLURM 22.05 on bookworm)
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  [ "${RV_SLURM_INSTALL:-1}" = 1 ] || skip "SLURM is not installed and RV_SLURM_INSTALL=0"
  command -v apt-get >/dev/null || skip "SLURM is not installed and there is no apt-get (install: $PACKAGES)"
  log "installing $PACKAGES"
  export DEBIAN_FRONTEND=noninteractive
  # 'policy-rc.d denied execution of start' is expected: nothing is started by the packages here
  apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null 2>&1; } \
    || skip "apt-get install $PACKAGES failed (no network or no package mirror?)"
fi

mkdir -p "$ROOT"/{state,spool,log,run}
touch "$ROOT/.rv-slurm-root"         # down.sh removes only a folder that carries this mark
log "$(slurmctld -V), under $ROOT"

# ---- munge (systemd would create /run/munge; here we do)
if [ ! -s /etc/munge/munge.key ]; then mkdir -p /etc/munge; mungekey --create --keyfile=/etc/munge/munge.key; fi
chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge
chmod 0700 /etc/munge; chmod 0600 /etc/munge/munge.key
mkdir -p /run/munge; chown munge:munge /run/munge; chmod 0755 /run/munge
if alive "$MUNGE_PID" munged; then
  log "munged already running (pid $(cat $MUNGE_PID)): using it, and leaving it running"
else
  rm -f "$MUNGE_PID" /run/munge/munge.socket.2*
  runuser -u munge -- /usr/sbin/munged         # forks; writes $MUNGE_PID
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  cp "$MUNGE_PID" "$RUN/munged.started"        # down.sh stops munged only when we started it
fi
munge -n | unmunge >/dev/null || die "munge does not work (munge -n | unmunge)"

# ---- slurm.conf: one node with this machine's real geometry (slurmd -C), no cgroups, no accounting
HW=$(slurmd -C | head -n1 | sed 's/^NodeName=[^ ]* //')
cat > "$CONF" <<CONF
# role-vectors test cluster (tools/slurm/up.sh): one node, root, no cgroups, no accounting
ClusterName=rvtest
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=${PORT}
SlurmdPort=$((PORT + 1))
StateSaveLocation=${ROOT}/state
SlurmdSpoolDir=${ROOT}/spool
SlurmctldPidFile=${RUN}/slurmctld.pid
SlurmdPidFile=${RUN}/slurmd.pid
SlurmctldLogFile=${ROOT}/log/slurmctld.log
SlurmdLogFile=${ROOT}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=${ROOT}/log/jobcomp.log
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
ReturnToService=2
EnforcePartLimits=ALL
KillWait=5
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
NodeName=${HOST} NodeAddr=127.0.0.1 ${HW} State=UNKNOWN
# one hour at most: the tests check that sbatch refuses a longer --time before anything is submitted
PartitionName=debug Nodes=ALL Default=YES MaxTime=01:00:00 State=UP
CONF
export SLURM_CONF="$CONF"

# ---- daemons (each forks and writes its own pid file; slurmctld forks before it checks its config: poll)
slurmctld -f "$CONF" || die "slurmctld failed to start"
for _ in $(seq 100); do
  scontrol ping 2>/dev/null | grep -q 'is UP' && break
  alive "$RUN/slurmctld.pid" slurmctld || { sleep 0.5; alive "$RUN/slurmctld.pid" slurmctld || break; }
  sleep 0.2
done
if ! scontrol ping 2>/dev/null | grep -q 'is UP'; then
  log "slurmctld is not up; its foreground error:"; timeout 3 slurmctld -D -f "$CONF" 2>&1 | tail -n 5 || true
  die "slurmctld did not come up"
fi
slurmd -f "$CONF" -N "$HOST" || die "slurmd failed to start"
deadline=$((SECONDS + ${RV_SLURM_TIMEOUT:-60})); state=""
while [ $SECONDS -lt $deadline ]; do
  state=$(sinfo -h -N -n "$HOST" -o '%T' 2>/dev/null | head -n1 || true)
  case "$state" in
    idle|mixed|allocated) break ;;
    drain*|down*) scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true ;;
  esac
  sleep 0.2
done
case "$state" in idle|mixed|allocated) ;; *) die "node $HOST is not ready (state '$state')" ;; esac
log "up: slurmctld pid $(cat "$RUN/slurmctld.pid"), slurmd pid $(cat "$RUN/slurmd.pid"), node $HOST $state"
echo "export SLURM_CONF=$CONF"
