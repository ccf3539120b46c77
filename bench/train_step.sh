#!/usr/bin/env bash
# C++ trainer vs the same step in Python (bench/py_dlcm.py), same LibTorch, same threads, run side by
# side in one invocation and alternating (C++, Py, C++, Py, ...) so that background load hits both.
#
#   bench/train_step.sh                      # tiny + small, 3 reps each, 2 threads
#   REPS=5 THREADS=2 bench/train_step.sh
#   CONFIGS="configs/tiny-dlcm.toml" bench/train_step.sh
#   # the demo study's shapes at one thread, against an earlier build of the trainer (bench/build_at.sh):
#   THREADS=1 STEPS=60 WARMUP=30 CONFIGS="bench/configs/demo-baseline.toml bench/configs/demo-dlcm.toml" \
#     BEFORE=/tmp/dlcm-before/build/bench/dlcm_bench_step bench/train_step.sh
#
# Env: REPS (3), THREADS (2), TINY_STEPS (30), SMALL_STEPS (12), TINY_WARMUP (20), SMALL_WARMUP (40),
# STEPS / WARMUP (for every config, overriding those four):
# untimed steps first, because the boundary detector starts collapsed (1-3 concepts per row) and
# swings up to ~240 before settling near T/R, and step time follows the concept count;
# MAX_FOREIGN (0.1): a rep whose C++ or Python run saw more than this share of the cores taken by
# other processes is listed but left out of the summary (see foreign_cpu below); OUT (results JSONL;
# default a temp file), BUILD (build), PY (/usr/bin/python3), WAIT_IDLE (60: seconds each run may
# wait for an idle moment before it starts; see bench/run_one.py, which also records the CPU share
# other processes took during each run as foreign_cpu). Prints one line per run and a table:
# config, C++ tok/s, Py tok/s, C++/Py, C++ MFU vs matmul (medians over the reps, with min–max).
# BEFORE: another dlcm_bench_step (an earlier commit's); each rep then also runs it, adjacent to the
# current one, and the table gains its tok/s and the ratio now/before per rep.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
THREADS=${THREADS:-2}
TINY_WARMUP=${TINY_WARMUP:-20}
SMALL_WARMUP=${SMALL_WARMUP:-40}
MAX_FOREIGN=${MAX_FOREIGN:-0.1}
TINY_STEPS=${TINY_STEPS:-30}
SMALL_STEPS=${SMALL_STEPS:-12}
BUILD=${BUILD:-build}
WAIT_IDLE=${WAIT_IDLE:-60}
PY=${PY:-/usr/bin/python3}   # Debian's interpreter: the one with python3-torch
OUT=${OUT:-$(mktemp /tmp/dlcm_train_step.XXXXXX.jsonl)}
: >"$OUT"

# --- build -------------------------------------------------------------------------------------
if [[ ! -f "$BUILD/build.ninja" && ! -f "$BUILD/Makefile" ]]; then
  cmake -S . -B "$BUILD" -G Ninja >/dev/null
fi
cmake --build "$BUILD" --target dlcm_bench_step >/dev/null
BENCH="$BUILD/bench/dlcm_bench_step"

# --- corpus ------------------------------------------------------------------------------------
if [[ ! -f data/corpus/train.bin ]]; then
  if [[ -x "$BUILD/src/cli/dlcm" ]]; then
    "$BUILD/src/cli/dlcm" data prepare --out data/corpus
  else
    # Same library call as `dlcm data prepare` (data::prepare_corpus), for when dlcm is not built.
    "$BENCH" --prepare-corpus data/corpus
  fi
fi

# --- configs -----------------------------------------------------------------------------------
TMPD=$(mktemp -d /tmp/dlcm_train_step.XXXXXX)
trap 'rm -rf "$TMPD"' EXIT
if [[ -z "${CONFIGS:-}" ]]; then
  small=configs/small-dlcm.toml
  if [[ ! -f $small ]]; then
    # Stand-in until configs/small-dlcm.toml exists: tiny at twice the width, 2/4/2 layers.
    small=$TMPD/small-standin.toml
    sed -e 's/^d_token = .*/d_token = 128/' -e 's/^d_concept = .*/d_concept = 256/' \
        -e 's/^encoder_layers = .*/encoder_layers = 2/' -e 's/^decoder_layers = .*/decoder_layers = 2/' \
        -e 's/^concept_layers = .*/concept_layers = 4/' configs/tiny-dlcm.toml >"$small"
    echo "note: configs/small-dlcm.toml absent; using a stand-in (d_token 128, d_concept 256, 2/4/2 layers)" >&2
  fi
  CONFIGS="configs/tiny-dlcm.toml $small"
fi

steps_for() { [[ -n "${STEPS:-}" ]] && { echo "$STEPS"; return; }; case "$1" in *tiny*) echo "$TINY_STEPS" ;; *) echo "$SMALL_STEPS" ;; esac; }
warmup_for() { [[ -n "${WARMUP:-}" ]] && { echo "$WARMUP"; return; }; case "$1" in *tiny*) echo "$TINY_WARMUP" ;; *) echo "$SMALL_WARMUP" ;; esac; }
RUN=("$PY" bench/run_one.py --wait-idle "$WAIT_IDLE")

echo "# $(date -Is) $(nproc) cores, $THREADS threads, $REPS reps; results in $OUT" >&2
echo "# BLAS (system alternative): $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)" >&2

declare -A NPARAMS
for rep in $(seq 1 "$REPS"); do
  for cfg in $CONFIGS; do
    steps=$(steps_for "$cfg") warmup=$(warmup_for "$cfg")
    "${RUN[@]}" --tag rep="$rep" --tag cfg="$cfg" -- \
      "$BENCH" --config "$cfg" --steps "$steps" --warmup "$warmup" --threads "$THREADS" --json >>"$OUT"
    NPARAMS[$cfg]=$(tail -n 1 "$OUT" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["n_params"])')
    if [[ -n "${BEFORE:-}" ]]; then
      "${RUN[@]}" --tag rep="$rep" --tag cfg="$cfg" -- \
        "$BEFORE" --config "$cfg" --steps "$steps" --warmup "$warmup" --threads "$THREADS" --json |
        "$PY" -c 'import json,sys; r=json.load(sys.stdin); r["impl"]="before"; print(json.dumps(r))' >>"$OUT"
    fi
    "${RUN[@]}" --tag rep="$rep" --tag cfg="$cfg" -- \
      "$PY" bench/py_dlcm.py --config "$cfg" --steps "$steps" --warmup "$warmup" --threads "$THREADS" \
      --expect-params "${NPARAMS[$cfg]}" --json >>"$OUT"
  done
done

"$PY" - "$OUT" "$MAX_FOREIGN" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
limit = float(sys.argv[2])
dirty = {(r["cfg"], r["rep"]) for r in rows if r["foreign_cpu"] > limit}
if dirty:
    print(f"left out (another process took > {limit:.0%} of the cores during the C++ or the Python run): "
          + ", ".join(f"{c.split('/')[-1]} rep {k}" for c, k in sorted(dirty)))
rows = [r for r in rows if (r["cfg"], r["rep"]) not in dirty]
if not rows:
    sys.exit("no clean reps: re-run when the machine is quieter, or raise MAX_FOREIGN")
cfgs = list(dict.fromkeys(r["cfg"] for r in rows))
col = lambda cfg, impl, key: [r[key] for r in rows if r["cfg"] == cfg and r["impl"] == impl]
rng = lambda v, f: f"{f(statistics.median(v))} ({f(min(v))}–{f(max(v))})"
i0 = lambda x: f"{x:.0f}"
print("medians over reps (min–max); C++/Py is taken per rep, from adjacent runs")
before = any(r["impl"] == "before" for r in rows)
print("| config | params | C++ tok/s | Py tok/s | C++/Py | C++ MFU vs matmul | matmul GFLOP/s | ratio C++, Py | foreign CPU | faults/step C++, Py |"
      + (" before tok/s | now/before |" if before else ""))
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: | ---: |" if before else ""))
for c in cfgs:
    cpp, py = col(c, "cpp", "tokens_per_second"), col(c, "python", "tokens_per_second")
    ratios = [a / b for a, b in zip(cpp, py)]
    mfu, mm = col(c, "cpp", "mfu_vs_matmul"), col(c, "cpp", "matmul_flops_per_second")
    foreign = col(c, "cpp", "foreign_cpu") + col(c, "python", "foreign_cpu")
    steps = lambda impl: col(c, impl, "steps")[0] + col(c, impl, "warmup")[0]
    faults = lambda impl: statistics.median(col(c, impl, "minflt")) / steps(impl)
    print(f"| {c.split('/')[-1]} | {col(c, 'cpp', 'n_params')[0]} | {rng(cpp, i0)} | {rng(py, i0)} "
          f"| {rng(ratios, lambda x: f'{x:.2f}')} | {rng(mfu, lambda x: f'{x:.3f}')} | {statistics.median(mm) / 1e9:.0f} "
          f"| {statistics.median(col(c, 'cpp', 'timed_realised_ratio')):.2f}, {statistics.median(col(c, 'python', 'timed_realised_ratio')):.2f} "
          f"| {statistics.median(foreign):.2f} (max {max(foreign):.2f}) | {faults('cpp'):.0f}, {faults('python'):.0f} |"
          + (f" {rng(col(c, 'before', 'tokens_per_second'), i0)} "
             f"| {rng([a / b for a, b in zip(cpp, col(c, 'before', 'tokens_per_second'))], lambda x: f'{x:.2f}')} |"
             if before else ""))
EOF
