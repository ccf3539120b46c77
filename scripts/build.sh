#!/usr/bin/env bash
# Configures and builds dlcm into ./build (Ninja, ccache when present).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${DLCM_BUILD_JOBS:-$(nproc)}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} >/dev/null
cmake --build build -j "$jobs"
