#!/usr/bin/env bash
# The demo study's wall time under `sweep run`, two dlcm binaries side by side (before/after a change):
#
#   bench/sweep_wall.sh BEFORE_DLCM AFTER_DLCM [BUDGET] [REPS]
#
# Per binary, in a scratch directory (the corpus linked from data/corpus, sweeps/ copied): the
# learning-rate pilot (`dlcm mup lr-transfer sweeps/demo-lr.toml`), then sweeps/demo.toml cut to one
# budget (BUDGET, default 2e11, its smallest; `sweep run` on 2 workers × 1 thread as the main job
# runs it). Alternates BEFORE, AFTER per rep (REPS, default 1). Prints each phase's wall seconds and,
# per rep, the median over the sweep's runs of the trainer-time ratio before/after (runs matched by
# label without the learning rate: the pilot of each binary measures its own). Build an earlier
# binary with `bench/build_at.sh COMMIT` and then `cmake --build /tmp/dlcm-before/build --target dlcm`.
set -euo pipefail
cd "$(dirname "$0")/.."
before=$(realpath "${1:?usage: bench/sweep_wall.sh BEFORE_DLCM AFTER_DLCM [BUDGET] [REPS]}")
after=$(realpath "${2:?usage: bench/sweep_wall.sh BEFORE_DLCM AFTER_DLCM [BUDGET] [REPS]}")
budget=${3:-2e11}
reps=${4:-1}
repo=$(pwd)
[[ -f data/corpus/train.bin ]] || { echo "bench/sweep_wall.sh: no data/corpus (dlcm data prepare --out data/corpus)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/dlcm_sweep_wall.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
python3 - "$repo/sweeps/demo.toml" "$budget" "$tmp/demo-one.toml" <<'PY'
import re, sys
src, budget, out = sys.argv[1], sys.argv[2], sys.argv[3]
s = open(src).read()
# keep only [grid.per_budget."<budget>"]: drop the other per-budget tables
parts = re.split(r'(?m)^(?=\[)', s)
keep = [p for p in parts if not p.startswith("[grid.per_budget.") or p.startswith(f'[grid.per_budget."{budget}"]')]
s = "".join(keep)
s = re.sub(r'(?m)^budgets = .*$', f"budgets = [{budget}]", s)
open(out, "w").write(s)
PY
for rep in $(seq 1 "$reps"); do
  for which in before after; do
    bin=$before; [[ $which == after ]] && bin=$after
    d=$tmp/$which-$rep
    mkdir -p "$d/data" && ln -s "$repo/data/corpus" "$d/data/corpus" && cp -r "$repo/sweeps" "$d/"
    cp "$tmp/demo-one.toml" "$d/sweeps/demo-one.toml"
    (cd "$d"
     t0=$(date +%s.%N); "$bin" mup lr-transfer sweeps/demo-lr.toml --db x.db >pilot.log 2>&1
     t1=$(date +%s.%N); "$bin" sweep run sweeps/demo-one.toml --db x.db >sweep.log 2>&1
     t2=$(date +%s.%N)
     printf '%s rep %s: pilot %.1f s, sweep at %s %.1f s\n' "$which" "$rep" "$(echo "$t1 - $t0" | bc)" "$budget" "$(echo "$t2 - $t1" | bc)")
  done
  python3 - "$tmp/before-$rep/sweep.log" "$tmp/after-$rep/sweep.log" <<'PY'
import re, statistics, sys
def trainer(path):
    out = {}
    for l in open(path):
        m = re.match(r"\[\d+/\d+\] \w+ (.+?) lr[\d.e+-]+ completed in [\d.]+s \(trainer ([\d.]+)s\)", l)
        if m: out[m.group(1)] = float(m.group(2))
    return out
b, a = trainer(sys.argv[1]), trainer(sys.argv[2])
r = [b[k] / a[k] for k in b if k in a]
print(f"  {len(r)} runs matched: trainer time before/after median {statistics.median(r):.2f} (min {min(r):.2f}, max {max(r):.2f}); "
      f"summed {sum(b.values()):.0f} s / {sum(a.values()):.0f} s = {sum(b.values()) / sum(a.values()):.2f}")
PY
done
