#!/usr/bin/env bash
# Fits one sweep's database with two dlcm binaries side by side (each on its own copy, since `fit`
# and `recommend` store their results): the before/after figures of a change to the accounting.
#   bash bench/compare_fits.sh OLD_DLCM NEW_DLCM DB SWEEP [BUDGET]
set -euo pipefail
old=$1 new=$2 db=$3 sweep=$4 budget=${5:-1e13}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for side in old new; do
  bin=${!side}
  cp "$db" "$work/$side.db"
  echo "== $side: $bin"
  "$bin" fit --sweep "$sweep" --db "$work/$side.db" --law isoflop --runs baseline 2>&1 | sed 's/^/  /' || true
  "$bin" fit --sweep "$sweep" --db "$work/$side.db" --law chinchilla --runs baseline --bootstrap 100 --holdout largest 2>&1 | sed 's/^/  /' || true
  "$bin" fit --sweep "$sweep" --db "$work/$side.db" --law dlcm --bootstrap 20 --holdout largest 2>&1 | sed 's/^/  /' || true
  "$bin" recommend --sweep "$sweep" --db "$work/$side.db" --budget "$budget" 2>&1 | sed 's/^/  /' || true
done
