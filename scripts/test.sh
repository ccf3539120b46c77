#!/usr/bin/env bash
# The test suite: install, build, start a local Slurm, run every test with CTest (no GPU needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
# The Slurm integration tests run against a single-node Slurm on localhost; one started here is
# stopped on the way out (one already up is left alone). A Slurm that fails to start fails the run
# (here the tests must not skip), and the trap is set first so a half-started one is stopped too.
if ! SLURM_CONF=${DLCM_SLURM_DIR:-/tmp/dlcm-slurm}/slurm.conf timeout 10 sinfo -h >/dev/null 2>&1; then
  trap 'bash scripts/slurm-down.sh' EXIT
  bash scripts/slurm-up.sh
fi
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 600
