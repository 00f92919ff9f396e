#!/usr/bin/env bash
# A single-node Slurm for `sandlock-jobs run --executor slurm` and its tests: installs
# slurm-wlm and munge (Debian packages) when missing, writes /etc/slurm/slurm.conf for this
# host (node name, CPUs and memory as `slurmd -C` reads them), starts munged, slurmctld and
# slurmd, and waits (bounded) until `sinfo` shows the node idle. Idempotent and quiet: a
# Slurm that already answers is left alone; a slurm.conf not written by this script is
# never replaced.
#
#   Scripts/slurm-setup.sh          set up and start (prints nothing on success)
#   Scripts/slurm-setup.sh stop     stop the daemons this script started (their pid files)
#
# Needs root (packages, daemons); exits 1 with the reason otherwise.
set -euo pipefail

conf=/etc/slurm/slurm.conf
marker="# written by sandlock-jobs Scripts/slurm-setup.sh"
# Daemons this script started, so `stop` ends exactly those.
started=/run/sandlock-slurm.started
wait_seconds=${SLURM_SETUP_WAIT:-30}

die() { echo "slurm-setup: $*" >&2; exit 1; }

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

node_state() { sinfo -h -o %T 2>/dev/null | head -1; }

if [ "${1:-}" = "stop" ]; then
  [ -f "$started" ] || exit 0
  while read -r pidfile; do
    if alive "$pidfile"; then
      pid=$(cat "$pidfile")
      kill "$pid"
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    fi
  done < <(tac "$started")
  rm -f "$started"
  exit 0
fi

# A Slurm that answers with a usable node is used as it is. (Asked only when a controller
# may be up: sinfo waits MessageTimeout, 10 s, for one that is not.)
if [ -f "$conf" ] && { ! grep -qxF "$marker" "$conf" || alive /run/slurmctld.pid; }; then
  case "$(node_state)" in idle|mixed|allocated) exit 0 ;; esac
fi

[ "$(id -u)" -eq 0 ] || die "needs root to install and start Slurm (run: sudo $0)"

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq slurm-wlm munge >/dev/null || die "apt-get install slurm-wlm munge failed"
fi

if [ -e "$conf" ] && ! grep -qxF "$marker" "$conf"; then
  die "$conf exists and was not written by this script; start that Slurm yourself (or move the file away)"
fi
node=$(slurmd -C | head -1)
case "$node" in NodeName=*) ;; *) die "slurmd -C did not describe this node: $node" ;; esac
# `slurmd -C` names the node after `hostname` and reads its CPUs and memory.
node_line="$(echo "$node" | sed 's/ Boards=[^ ]*//') NodeAddr=127.0.0.1 State=UNKNOWN"
new_conf="$marker
ClusterName=sandlock
SlurmctldHost=localhost
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/lib/slurm/slurmd
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmUser=slurm
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,default_queue_depth=1000
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MaxArraySize=10001
MaxJobCount=100000
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SlurmctldDebug=info
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdDebug=info
SlurmdLogFile=/var/log/slurm/slurmd.log
$node_line
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
changed=0
if [ "$(cat "$conf" 2>/dev/null)" != "$new_conf" ]; then
  mkdir -p /etc/slurm
  printf '%s\n' "$new_conf" > "$conf"
  changed=1
fi
mkdir -p /var/lib/slurm/slurmd /var/lib/slurm/slurmctld /var/log/slurm
chown slurm:slurm /var/lib/slurm/slurmctld /var/log/slurm

mkdir -p /run/munge && chown munge:munge /run/munge
if ! alive /run/munge/munged.pid; then
  runuser -u munge -- /usr/sbin/munged || die "munged did not start (see /var/log/munge/munged.log)"
  echo /run/munge/munged.pid >> "$started"
fi
for daemon in slurmctld slurmd; do
  pidfile=/run/$daemon.pid
  if alive "$pidfile" && [ "$changed" -eq 1 ]; then
    kill "$(cat "$pidfile")"
    for _ in $(seq 100); do alive "$pidfile" || break; sleep 0.05; done
  fi
  if ! alive "$pidfile"; then
    "/usr/sbin/$daemon" || die "$daemon did not start (see /var/log/slurm/$daemon.log)"
    echo "$pidfile" >> "$started"
  fi
done

# Bounded wait for the node to register (well under a second on an idle machine).
deadline=$((SECONDS + wait_seconds))
until [ "$(node_state)" = idle ]; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    die "the node is not idle after ${wait_seconds}s (sinfo: '$(node_state)'); see /var/log/slurm/slurmctld.log and slurmd.log"
  fi
  sleep 0.1
done
