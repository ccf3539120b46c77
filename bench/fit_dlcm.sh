#!/usr/bin/env bash
# The compression-aware law's fit as the main job runs it (scripts/main.sh), two dlcm binaries side
# by side, alternating A B A B, each command on a fresh copy of the database (fit and recommend store
# their results): the plain zero-offset fit, the same with --bootstrap 50 --holdout largest, and
# recommend (which refits the law, offsets fitted, 20 replicates). Wall seconds of each whole command
# and the objective of its fit. Run it under the build lock on a shared machine.
#   bash bench/fit_dlcm.sh OLD_DLCM NEW_DLCM DB [SWEEP] [BUDGET] [REPS]
set -euo pipefail
old=$1 new=$2 db=$3 sweep=${4:-demo} budget=${5:-5.4e12} reps=${6:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
commands=(
  "fit --law dlcm --zero-offsets"
  "fit --law dlcm --zero-offsets --bootstrap 50 --holdout largest"
  "recommend --budget $budget"
)
printf '%-64s %-4s %7s  %s\n' command side wall_s "objective (starts); E0 delta1 alpha [bootstrap 95%] | recommend: N P R, predicted loss"
for cmd in "${commands[@]}"; do
  for rep in $(seq "$reps"); do
    for side in old new; do
      cp "$db" "$work/run.db"
      start=$(date +%s.%N)
      # shellcheck disable=SC2086
      "${!side}" $cmd --sweep "$sweep" --db "$work/run.db" --threads 2 --json >"$work/out.json" 2>/dev/null
      wall=$(echo "$(date +%s.%N) - $start" | bc)
      /usr/bin/python3 - "$work/out.json" "$cmd" "$side" "$wall" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
def g(x): return f"{x:.4g}"
if "objective" in r:
    p, ci = r["params"], r.get("ci", {})
    def iv(k): return f" [{g(ci[k][0])}, {g(ci[k][1])}]" if k in ci else ""
    what = f"{r['objective']:.13g} ({r['starts']}); " + " ".join(f"{k} {g(p[k])}{iv(k)}" for k in ("E0", "delta1", "alpha")) + (
        f"; R2 {r['r2']:.4f}" + (f"; unidentified {','.join(r['unidentified'])}" if "unidentified" in r else ""))
else:
    what = f"N {g(r['N'])} P {g(r['P'])} R {g(r['R'])}, loss {g(r['predicted_loss'])}"
print(f"{sys.argv[2]:64} {sys.argv[3]:4} {float(sys.argv[4]):7.2f}  {what}")
PY
    done
  done
done
