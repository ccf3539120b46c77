#!/usr/bin/env bash
# Stops the single-node Slurm that scripts/slurm-up.sh started, by the pid files in its state
# directory: nothing else is touched. Its state (queue, logs) stays for inspection.
set -uo pipefail
dir=${DLCM_SLURM_DIR:-/tmp/dlcm-slurm}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  name=$(basename "$pidfile" .pid)
  # A stale pid file may name a reused pid: only a process of the expected name is stopped.
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] && $SUDO kill "$pid" 2>/dev/null; then
    for _ in $(seq 50); do
      $SUDO kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    echo "slurm-down: stopped $name ($pid)"
  fi
  $SUDO rm -f "$pidfile"
done
