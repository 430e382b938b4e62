#!/usr/bin/env bash
# A single-node Slurm cluster on localhost, without systemd, for the Slurm tests
# (crates/cli/tests/slurm.rs): `start` installs Debian's slurmctld, slurmd,
# slurm-client and munge when missing, writes its configuration under
# $MEG_SLURM_DIR (default /tmp/meg-slurm), starts munged, slurmctld and slurmd
# and waits until the node is idle; `stop` stops them by their PIDs and removes
# the folder. The tests find the cluster through $MEG_SLURM_DIR/slurm.conf.
set -euo pipefail
DIR="${MEG_SLURM_DIR:-/tmp/meg-slurm}"

start() {
  if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
     || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 \
           && apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null; }
  fi
  if [ -f "$DIR/slurmctld.pid" ] && kill -0 "$(cat "$DIR/slurmctld.pid")" 2>/dev/null; then
    echo "slurm cluster already running ($DIR)"; return 0
  fi
  rm -rf "$DIR"
  mkdir -p "$DIR/munge" "$DIR/state" "$DIR/spool" "$DIR/log"
  chmod 755 "$DIR" "$DIR/munge"
  dd if=/dev/urandom of="$DIR/munge.key" bs=1024 count=1 status=none
  chmod 0400 "$DIR/munge.key"
  munged --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge.key" \
    --pid-file="$DIR/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge.seed" --force
  local host cpus mem
  host="$(hostname -s)"
  cpus="$(nproc)"
  mem="$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)"
  cat > "$DIR/slurm.conf" <<CONF
ClusterName=meg
SlurmctldHost=${host}(127.0.0.1)
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
DependencyParameters=kill_invalid_depend
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=3600
KillWait=2
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
MpiDefault=none
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$DIR/slurm.conf"
  slurmctld -D -i >>"$DIR/log/slurmctld.out" 2>&1 &
  echo $! > "$DIR/slurmctld.pid"
  slurmd -D >>"$DIR/log/slurmd.out" 2>&1 &
  echo $! > "$DIR/slurmd.pid"
  for _ in $(seq 1 100); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qx idle; then
      echo "slurm cluster up: SLURM_CONF=$SLURM_CONF ($(sinfo -h -o '%N %c CPUs %T'))"
      return 0
    fi
    sleep 0.2
  done
  echo "slurm cluster did not come up; logs in $DIR/log" >&2
  tail -n 20 "$DIR"/log/* >&2 || true
  stop
  return 1
}

stop() {
  [ -d "$DIR" ] || return 0
  for f in slurmd slurmctld munged; do
    if [ -f "$DIR/$f.pid" ]; then
      local pid
      pid="$(cat "$DIR/$f.pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
