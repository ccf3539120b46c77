#!/usr/bin/env bash
# Builds the training-step benchmark (dlcm_bench_step) of an earlier commit, for before/after figures:
#
#   bench/build_at.sh COMMIT [DIR]     # DIR defaults to /tmp/dlcm-before; prints the binary's path
#
# A detached git worktree of COMMIT in DIR, built like scripts/build.sh (ccache makes a rebuild cheap).
# Remove it with `git worktree remove --force DIR`.
set -euo pipefail
cd "$(dirname "$0")/.."
commit=${1:?usage: bench/build_at.sh COMMIT [DIR]}
dir=${2:-/tmp/dlcm-before}
if [[ ! -d $dir ]]; then
  git worktree add --detach "$dir" "$commit" >/dev/null
else
  git -C "$dir" checkout --detach -q "$commit"
fi
cmake -S "$dir" -B "$dir/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDLCM_BUILD_TESTS=OFF >/dev/null
cmake --build "$dir/build" --target dlcm_bench_step >/dev/null
echo "$dir/build/bench/dlcm_bench_step"
