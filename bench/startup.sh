#!/bin/bash
# Start-up of two `dlcm` binaries on commands that never train: the mean wall time of 20 runs of
# each, the binaries alternating per command, twice. Figures: bench/README.md "Start-up".
#   bench/startup.sh BEFORE_DLCM AFTER_DLCM DB SWEEP
# DB is copied (a fit may write to it); SWEEP names a sweep in it for `sweep status`.
set -euo pipefail
before=$(realpath "${1:?usage: bench/startup.sh BEFORE_DLCM AFTER_DLCM DB SWEEP}")
after=$(realpath "${2:?usage: bench/startup.sh BEFORE_DLCM AFTER_DLCM DB SWEEP}")
db=$(mktemp /tmp/dlcm_startup.XXXXXX.db)
cp "${3:?usage: bench/startup.sh BEFORE_DLCM AFTER_DLCM DB SWEEP}" "$db"
sweep=${4:?usage: bench/startup.sh BEFORE_DLCM AFTER_DLCM DB SWEEP}
csv=$(dirname "$0")/../tests/fitting/data/chinchilla_fig4_epoch.csv
for rep in 1 2; do
  for cmd in "--version" "sweep status $sweep --db $db" "fit --law chinchilla --csv $csv"; do
    for which in before after; do
      bin=${!which}
      start=$(date +%s.%N)
      for _ in $(seq 20); do $bin $cmd >/dev/null 2>&1 || true; done
      end=$(date +%s.%N)
      printf '%s\t%-14s\t%s\t%.0f ms\n' "$rep" "${cmd%% [/-]*}" "$which" "$(echo "($end - $start) * 1000 / 20" | bc -l)"
    done
  done
done
rm -f "$db"
