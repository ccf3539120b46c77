#!/usr/bin/env bash
# Starts a single-node Slurm on localhost for the integration tests and for trying
# `dlcm sweep submit --launcher slurm` by hand: munged, slurmctld and slurmd as root, no systemd,
# no cgroups, no accounting (so `sacct` is absent and dlcm's squeue fallback is what runs).
# Everything lives under one private state directory; scripts/slurm-down.sh stops what this started.
# Idempotent: when this Slurm already answers, it does nothing.
#
#   bash scripts/slurm-up.sh            # then: export SLURM_CONF=/tmp/dlcm-slurm/slurm.conf
#
# DLCM_SLURM_DIR (default /tmp/dlcm-slurm), DLCM_SLURM_CPUS (default nproc) and
# DLCM_SLURM_PORT (slurmctld's port, default 6817; slurmd takes the next) change the defaults.
set -euo pipefail
dir=${DLCM_SLURM_DIR:-/tmp/dlcm-slurm}
cpus=${DLCM_SLURM_CPUS:-$(nproc)}
port=${DLCM_SLURM_PORT:-6817}
export SLURM_CONF=$dir/slurm.conf

if [ -f "$SLURM_CONF" ] && timeout 10 sinfo -h >/dev/null 2>&1; then
  echo "slurm-up: already up (SLURM_CONF=$SLURM_CONF)"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends slurm-wlm munge
fi

# A stale half-started set from an earlier attempt goes first.
bash "$(dirname "$0")/slurm-down.sh" >/dev/null 2>&1 || true
$SUDO mkdir -p "$dir/munge" "$dir/ctld" "$dir/spool"
# munged refuses a socket folder others can write, and clients need to reach it: 755.
$SUDO chmod 755 "$dir" "$dir/munge"
if [ ! -f "$dir/munge/munge.key" ]; then
  $SUDO dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  $SUDO chmod 600 "$dir/munge/munge.key"
fi
socket=$dir/munge/munge.socket.2
$SUDO munged --force --socket="$socket" --key-file="$dir/munge/munge.key" --pid-file="$dir/munge/munged.pid" \
  --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed"

$SUDO tee "$dir/slurm.conf.new" >/dev/null <<EOF
# Written by dlcm scripts/slurm-up.sh: one node, localhost, no cgroups, no accounting.
ClusterName=dlcm
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# A short credential lifetime lets a requeued task start again within seconds, not minutes.
AuthInfo=socket=$socket,cred_expire=10
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
# Finished jobs stay visible to squeue for an hour.
MinJobAge=3600
SchedulerParameters=batch_sched_delay=0,sched_interval=5,bf_interval=5
# An oversized request is refused at submission instead of pending forever.
EnforcePartLimits=ALL
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus Sockets=1 CoresPerSocket=$cpus ThreadsPerCore=1 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
$SUDO mv "$dir/slurm.conf.new" "$SLURM_CONF"

$SUDO slurmctld -f "$SLURM_CONF"
# The machine is not called localhost: slurmd is told which node it is.
$SUDO slurmd -f "$SLURM_CONF" -N localhost

for _ in $(seq 60); do
  state=$(sinfo -h -n localhost -o '%T' 2>/dev/null || true)
  if [ "$state" = idle ]; then
    echo "slurm-up: up with $cpus CPUs; export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 1
done
echo "slurm-up: the node never became idle (state '${state:-none}'); logs in $dir" >&2
exit 1
