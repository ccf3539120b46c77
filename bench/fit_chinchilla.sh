#!/usr/bin/env bash
# The Chinchilla fit (Hoffmann et al. 2022, Approach 3: sum of Huber losses, delta 1e-3, on log
# residuals) on one 240-run table, side by side: dlcm_fitting's profile search (the default: variable
# projection picks the starts), its 4500-start grid search (every core), alternating A B A B, then
# scipy L-BFGS-B with an analytic gradient over the same 4500 starts.
#   bash bench/fit_chinchilla.sh [BUILD_DIR] [--tight] [REPS]
# --tight runs scipy with ftol=0, gtol=1e-12 instead of its defaults; REPS alternations (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
scipy_args=${2:-}
reps=${3:-3}
[ -f "$build/build.ninja" ] || cmake -S . -B "$build" -G Ninja >/dev/null
cmake --build "$build" --target dlcm_fit_bench >/dev/null
bench=$build/bench/dlcm_fit_bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bench" table "$work/runs.csv"
threads=$(nproc)
for _ in $(seq "$reps"); do
  "$bench" fit "$work/runs.csv" "$threads" chinchilla offsets profile >>"$work/cpp.jsonl"
  "$bench" fit "$work/runs.csv" "$threads" chinchilla offsets grid >>"$work/cpp.jsonl"
done
# Debian's python3 (python3-scipy, python3-numpy), not whatever python3 comes first on PATH.
/usr/bin/python3 bench/fit_chinchilla_scipy.py "$work/runs.csv" $scipy_args >"$work/scipy.json"

/usr/bin/python3 - "$work/runs.csv" "$work/cpp.jsonl" "$work/scipy.json" <<'PY'
import json, statistics, sys
import numpy as np
sys.path.insert(0, "bench")
from fit_chinchilla_scipy import objective_and_gradient
table = np.genfromtxt(sys.argv[1], delimiter=",", names=True)
logs = (np.log(table["N"]), np.log(table["D"]), np.log(table["loss"]))
cpp = [json.loads(l) for l in open(sys.argv[2])]
scipy = json.load(open(sys.argv[3]))

def objective(r):  # every end point scored by the same (numpy) code
    E, A, B, alpha, beta = r["params"]
    return objective_and_gradient(np.array([np.log(E), np.log(A), np.log(B), alpha, beta]), *logs, 1e-3)[0]

print("Chinchilla fit, 240 runs; objective = sum of Huber(delta=1e-3) on log residuals")
print(f"{'':40} {'wall s':>7} {'CPU s':>7} {'starts':>6} {'objective':>22} {'E':>7} {'A':>8} {'B':>8} {'alpha':>7} {'beta':>7}")
def row(name, r):
    E, A, B, a, b = r["params"]
    print(f"{name:40} {r['seconds']:7.3f} {r['cpu_seconds']:7.3f} {r['starts']:6d} {objective(r):22.17g} "
          f"{E:7.4f} {A:8.2f} {B:8.2f} {a:7.4f} {b:7.4f}")
names = {"profile": "C++ profile search (VarPro starts)", "grid": "C++ grid search (Hoffmann's 4500)"}
for r in cpp:
    row(f"{names[r['search']]}, {r['threads']} thr", r)
row("scipy L-BFGS-B, 4500 starts, 1 thread", scipy)
med = {s: statistics.median(r["seconds"] for r in cpp if r["search"] == s) for s in names}
cpu = {s: statistics.median(r["cpu_seconds"] for r in cpp if r["search"] == s) for s in names}
print(f"medians of {len(cpp) // 2} alternating reps, wall: profile {med['profile']:.4f} s, grid {med['grid']:.4f} s")
print(f"time ratio grid / profile: {med['grid'] / med['profile']:.1f}x wall, {cpu['grid'] / cpu['profile']:.1f}x CPU")
print(f"time ratio scipy / profile: {scipy['seconds'] / med['profile']:.1f}x wall, "
      f"{scipy['cpu_seconds'] / cpu['profile']:.1f}x CPU; scipy / grid: {scipy['seconds'] / med['grid']:.1f}x wall")
f_grid = min(objective(r) for r in cpp if r["search"] == "grid")
for s, f in (("profile", min(objective(r) for r in cpp if r["search"] == "profile")), ("scipy", objective(scipy))):
    rel = (f - f_grid) / f_grid
    verdict = "lower" if rel < -1e-12 else "equal to rounding (1e-12)" if rel <= 1e-12 else "HIGHER"
    print(f"objective, {s} against the grid: {verdict}, relative difference {rel:.2g}")
print(f"scipy mean iterations {scipy['mean_iterations']:.1f}")
PY
