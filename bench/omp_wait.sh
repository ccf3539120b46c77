#!/usr/bin/env bash
# How the C++ training step reacts to one busy core, under libgomp's wait policies.
#
#   bench/omp_wait.sh                 # tiny config, 2 threads, 2 rounds
#   CONFIG=configs/small-dlcm.toml bench/omp_wait.sh
#
# LibTorch's intra-op threads and the OpenBLAS OpenMP build both run on libgomp. By default a
# libgomp thread that reaches a barrier spins (GOMP_SPINCOUNT, 300000 iterations) before it sleeps.
# With 2 threads on 2 cores and anything else runnable, one of our threads is often descheduled
# while the other spins for it, at every one of the thousands of parallel regions of a step.
# This script times the step with each policy, on an idle machine and with one core kept busy by a
# plain shell loop (started and stopped here, by PID), rounds alternating.
#
# Env: CONFIG (configs/tiny-dlcm.toml), THREADS (2), STEPS (20), WARMUP (20), ROUNDS (2),
#      POLICIES ("default passive spin30k spin3k 1thread"; 1thread: default policy, --threads 1),
#      WAIT_IDLE (60), BUILD (build), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-configs/tiny-dlcm.toml}
THREADS=${THREADS:-2}
STEPS=${STEPS:-20}
WARMUP=${WARMUP:-20}
ROUNDS=${ROUNDS:-2}
POLICIES=${POLICIES:-default passive spin30k spin3k 1thread}
WAIT_IDLE=${WAIT_IDLE:-60}
BUILD=${BUILD:-build}
PY=/usr/bin/python3
OUT=${OUT:-$(mktemp /tmp/dlcm_omp_wait.XXXXXX.jsonl)}
: >"$OUT"
cmake --build "$BUILD" --target dlcm_bench_step >/dev/null
BENCH="$BUILD/bench/dlcm_bench_step"
[[ -f data/corpus/train.bin ]] || "$BENCH" --prepare-corpus data/corpus

envof() {
  case "$1" in
    default) echo "OMP_WAIT_POLICY_UNSET=1" ;;
    passive) echo "OMP_WAIT_POLICY=PASSIVE" ;;
    spin30k) echo "GOMP_SPINCOUNT=30000" ;;
    spin3k) echo "GOMP_SPINCOUNT=3000" ;;
    1thread) echo "OMP_WAIT_POLICY_UNSET=1" ;;  # default policy, --threads 1
    *) echo "unknown policy $1" >&2; exit 2 ;;
  esac
}
hog=
stop_hog() {
  if [[ -n $hog ]]; then kill "$hog" 2>/dev/null || true; wait "$hog" 2>/dev/null || true; fi
  hog=
}
trap stop_hog EXIT

echo "# $(date -Is) $(nproc) cores, $CONFIG, $THREADS threads, $STEPS steps after $WARMUP; results in $OUT" >&2
for round in $(seq 1 "$ROUNDS"); do
  for load in idle busy1; do
    for pol in $POLICIES; do
      wait_idle=$WAIT_IDLE
      if [[ $load == busy1 ]]; then
        bash -c 'while :; do :; done' &
        hog=$!
        wait_idle=0
      fi
      env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT $(envof "$pol") \
        "$PY" bench/run_one.py --wait-idle "$wait_idle" --tag policy="$pol" --tag load="$load" --tag round="$round" -- \
        "$BENCH" --config "$CONFIG" --steps "$STEPS" --warmup "$WARMUP" --json \
        --threads "$([[ $pol == 1thread ]] && echo 1 || echo "$THREADS")" >>"$OUT"
      stop_hog
    done
  done
done

"$PY" - "$OUT" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
pols = list(dict.fromkeys(r["policy"] for r in rows))
print("tokens/s, median over rounds (min–max); 'busy1': one core kept busy by a shell loop")
print("| wait policy | idle machine | one core busy | busy / idle |")
print("| --- | ---: | ---: | ---: |")
for p in pols:
    v = {l: [r["tokens_per_second"] for r in rows if r["policy"] == p and r["load"] == l] for l in ("idle", "busy1")}
    f = lambda x: f"{statistics.median(x):.0f} ({min(x):.0f}–{max(x):.0f})" if x else "–"
    ratio = statistics.median(v["busy1"]) / statistics.median(v["idle"]) if v["idle"] and v["busy1"] else float("nan")
    print(f"| {p} | {f(v['idle'])} | {f(v['busy1'])} | {ratio:.2f} |")
EOF
