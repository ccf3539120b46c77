#!/usr/bin/env bash
# The same C++ training step under each BLAS Debian offers LibTorch, side by side in one run.
#
#   bench/blas.sh                         # tiny config, 2 threads, 2 rounds
#   CONFIG=configs/small-dlcm.toml ROUNDS=3 bench/blas.sh
#
# Each BLAS is chosen per process with LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/<dir> (the
# directory holding that build's libblas.so.3), never by changing the system alternative:
#   openblas-openmp   libopenblas0-openmp   OpenBLAS, OpenMP threading (what scripts/setup.sh selects)
#   openblas-pthread  libopenblas0-pthread  OpenBLAS, its own pthreads
#   atlas             libatlas3-base        ATLAS
#   blas              libblas3              reference BLAS (netlib)
#   openblas-openmp-own                     the OpenMP build with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
#                                           unset for that process: OpenBLAS's own choice of kernels, where
#                                           the machine pins them (bench/README.md "OpenBLAS's kernels")
# Missing packages are installed with apt-get (needs root; pass NO_INSTALL=1 to skip those BLAS).
# Installing libopenblas0-pthread registers higher-priority alternatives; every BLAS/LAPACK
# alternative is pinned to its current target first (and checked after), so nothing moves.
# The BLAS actually loaded is read back from the process (dlcm::train::blas_in_use(): its maps).
# Rounds alternate over the BLAS list (A B C D A B C D ...), so background load spreads over all.
#
# Env: CONFIG (configs/tiny-dlcm.toml), THREADS (2), STEPS (20), WARMUP (20), ROUNDS (2),
#      BLAS_LIST ("openblas-openmp openblas-pthread atlas blas openblas-openmp-own"), BUILD (build), NO_INSTALL,
#      WAIT_IDLE (30 s: how long each run may wait for an idle moment; see bench/run_one.py), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

CONFIG=${CONFIG:-configs/tiny-dlcm.toml}
THREADS=${THREADS:-2}
STEPS=${STEPS:-20}
WARMUP=${WARMUP:-20}
ROUNDS=${ROUNDS:-2}
BUILD=${BUILD:-build}
WAIT_IDLE=${WAIT_IDLE:-30}
BLAS_LIST=${BLAS_LIST:-openblas-openmp openblas-pthread atlas blas openblas-openmp-own}
PY=/usr/bin/python3
LIBDIR=/usr/lib/x86_64-linux-gnu

dir_of() { echo "${1%-own}"; }  # the library directory; "-own" only changes the environment
pkg_of() {
  case "$(dir_of "$1")" in
    openblas-openmp) echo libopenblas0-openmp ;;
    openblas-pthread) echo libopenblas0-pthread ;;
    atlas) echo libatlas3-base ;;
    blas) echo libblas3 ;;
  esac
}

# --- make sure each BLAS is installed, without moving any system alternative -----------------
# Every alternative that names a BLAS/LAPACK/OpenBLAS library (libblas.so.3, liblapack.so.3,
# libopenblas.so.0, their -dev links, ...) is pinned to its current target before installing, and
# checked after: libopenblas0-pthread registers priority 100 against the OpenMP build's 95, so in
# auto mode it would take libblas.so.3, liblapack.so.3 *and* libopenblas.so.0 over.
snapshot() { update-alternatives --get-selections | awk '$1 ~ /(blas|lapack)/ {print $1, $3}'; }
missing=()
for b in $BLAS_LIST; do
  [[ -f $LIBDIR/$(dir_of "$b")/libblas.so.3 ]] || missing+=("$(pkg_of "$b")")
done
if ((${#missing[@]})); then
  if [[ -n ${NO_INSTALL:-} ]]; then
    echo "note: not installed, skipped: ${missing[*]}" >&2
  else
    SUDO=; [[ $(id -u) == 0 ]] || SUDO=sudo
    before=$(snapshot)
    while read -r name target; do
      $SUDO update-alternatives --set "$name" "$target" >/dev/null  # same link, manual mode
    done <<<"$before"
    echo "installing ${missing[*]} (apt-get)" >&2
    $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
    while read -r name target; do
      if [[ "$(update-alternatives --query "$name" | sed -n 's/^Value: //p')" != "$target" ]]; then
        echo "restoring the system alternative $name -> $target" >&2
        $SUDO update-alternatives --set "$name" "$target" >/dev/null
      fi
    done <<<"$before"
  fi
fi
present=()
for b in $BLAS_LIST; do [[ -f $LIBDIR/$(dir_of "$b")/libblas.so.3 ]] && present+=("$b"); done

# --- build and corpus ------------------------------------------------------------------------
cmake --build "$BUILD" --target dlcm_bench_step >/dev/null
BENCH="$BUILD/bench/dlcm_bench_step"
if [[ ! -f data/corpus/train.bin ]]; then
  if [[ -x "$BUILD/src/cli/dlcm" ]]; then "$BUILD/src/cli/dlcm" data prepare --out data/corpus
  else "$BENCH" --prepare-corpus data/corpus; fi
fi

OUT=${OUT:-$(mktemp /tmp/dlcm_blas.XXXXXX.jsonl)}
: >"$OUT"
echo "# $(date -Is) $(nproc) cores, $CONFIG, $THREADS threads, $STEPS steps after $WARMUP, $ROUNDS rounds; results in $OUT" >&2
echo "# system alternative: $(readlink -f $LIBDIR/libblas.so.3) (unchanged); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}" >&2
for round in $(seq 1 "$ROUNDS"); do
  for b in "${present[@]}"; do
    unpin=(); [[ $b == *-own ]] && unpin=(-u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
    "$PY" bench/run_one.py --wait-idle "$WAIT_IDLE" --tag blas_dir="$b" --tag round="$round" -- \
      env "${unpin[@]}" LD_LIBRARY_PATH="$LIBDIR/$(dir_of "$b")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
      "$BENCH" --config "$CONFIG" --steps "$STEPS" --warmup "$WARMUP" --threads "$THREADS" --json >>"$OUT"
    tail -n 1 "$OUT" | "$PY" -c 'import json,sys; print("   loaded:", json.load(sys.stdin)["blas"])' >&2
  done
done

"$PY" - "$OUT" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
order = list(dict.fromkeys(r["blas_dir"] for r in rows))
med = lambda b, k: statistics.median(r[k] for r in rows if r["blas_dir"] == b)
ref = med("openblas-openmp", "tokens_per_second") if "openblas-openmp" in order else None
print("| BLAS (LD_LIBRARY_PATH dir) | tok/s (median) | min–max | vs openblas-openmp | 2048² matmul GFLOP/s | MFU vs matmul | foreign CPU (max) | library loaded |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
for b in order:
    tps = [r["tokens_per_second"] for r in rows if r["blas_dir"] == b]
    libs = {r["blas"] for r in rows if r["blas_dir"] == b}
    blas_lib = ", ".join(sorted({p for l in libs for p in l.split(", ") if "libblas" in p or "openblas" in p or "atlas" in p}))
    print(f"| {b} | {statistics.median(tps):.0f} | {min(tps):.0f}–{max(tps):.0f} | "
          f"{statistics.median(tps) / ref if ref else float('nan'):.2f} | {med(b, 'matmul_flops_per_second') / 1e9:.1f} | "
          f"{med(b, 'mfu_vs_matmul'):.3f} | {max(r['foreign_cpu'] for r in rows if r['blas_dir'] == b):.2f} | {blas_lib} |")
EOF
