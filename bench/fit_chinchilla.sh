#!/usr/bin/env bash
# The 4500-start Chinchilla fit (Hoffmann et al. 2022, Approach 3: sum of Huber losses, delta 1e-3,
# on log residuals) on one 240-run table, done by dlcm_fitting (C++/Ceres, every core, and one
# thread) and by scipy L-BFGS-B with an analytic gradient, side by side.
#   bash bench/fit_chinchilla.sh [BUILD_DIR] [--tight]
# --tight runs scipy with ftol=0, gtol=1e-12 instead of its defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
scipy_args=${2:-}
[ -f "$build/build.ninja" ] || cmake -S . -B "$build" -G Ninja >/dev/null
cmake --build "$build" --target dlcm_fit_bench >/dev/null
bench=$build/bench/dlcm_fit_bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bench" table "$work/runs.csv"
threads=$(nproc)
cpp_all=$("$bench" fit "$work/runs.csv" "$threads")
cpp_one=$("$bench" fit "$work/runs.csv" 1)
# Debian's python3 (python3-scipy, python3-numpy), not whatever python3 comes first on PATH.
scipy=$(/usr/bin/python3 bench/fit_chinchilla_scipy.py "$work/runs.csv" $scipy_args)

/usr/bin/python3 - "$work/runs.csv" "$cpp_all" "$cpp_one" "$scipy" <<'PY'
import json, sys
import numpy as np
sys.path.insert(0, "bench")
from fit_chinchilla_scipy import objective_and_gradient
table = np.genfromtxt(sys.argv[1], delimiter=",", names=True)
logs = (np.log(table["N"]), np.log(table["D"]), np.log(table["loss"]))
cpp_all, cpp_one, scipy = (json.loads(a) for a in sys.argv[2:])

def objective(r):  # both end points scored by the same (numpy) code
    E, A, B, alpha, beta = r["params"]
    return objective_and_gradient(np.array([np.log(E), np.log(A), np.log(B), alpha, beta]), *logs, 1e-3)[0]

print("4500-start Chinchilla fit, 240 runs; objective = sum of Huber(delta=1e-3) on log residuals")
print(f"{'':34} {'wall s':>7} {'CPU s':>7} {'objective':>22} {'E':>7} {'A':>8} {'B':>8} {'alpha':>7} {'beta':>7}")
def row(name, r):
    E, A, B, a, b = r["params"]
    print(f"{name:34} {r['seconds']:7.3f} {r['cpu_seconds']:7.3f} {objective(r):22.17g} "
          f"{E:7.4f} {A:8.2f} {B:8.2f} {a:7.4f} {b:7.4f}")
row(f"C++/Ceres BFGS, {cpp_all['threads']} threads", cpp_all)
row("C++/Ceres BFGS, 1 thread", cpp_one)
row("scipy L-BFGS-B, analytic gradient", scipy)
print(f"time ratio scipy / C++: {scipy['seconds'] / cpp_all['seconds']:.1f}x wall on {cpp_all['threads']} threads, "
      f"{scipy['seconds'] / cpp_one['seconds']:.1f}x wall on 1 thread, "
      f"{scipy['cpu_seconds'] / cpp_one['cpu_seconds']:.1f}x in CPU time (per core)")
f_cpp, f_py = objective(cpp_all), objective(scipy)
rel = (f_cpp - f_py) / f_py
verdict = "lower" if rel < -1e-12 else "equal to rounding (1e-12)" if rel <= 1e-12 else "HIGHER"
print(f"objective: C++ {verdict}, relative difference {rel:.2g}; C++ converged starts "
      f"{cpp_all['converged_starts']}/{cpp_all['starts']}, scipy mean iterations {scipy['mean_iterations']:.1f}")
PY
