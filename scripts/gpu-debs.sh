#!/usr/bin/env bash
# On a Debian 12 machine WITH package access: downloads every .deb dlcm needs besides LibTorch
# (libraries, headers, CMake, Ninja, and their dependencies) into one folder, to carry to a GPU
# machine that has PyTorch but no package access. There, scripts/gpu-build.sh unpacks and builds.
#   bash scripts/gpu-debs.sh [OUT_DIR]   (default: debs/)
set -euo pipefail
out=${1:-debs}
mkdir -p "$out"
roots=(cmake ninja-build pkg-config libceres-dev libeigen3-dev libsqlite3-dev libcli11-dev libfmt-dev
       libgtest-dev libgmock-dev libtomlplusplus-dev nlohmann-json3-dev zlib1g-dev libgloo-dev)
# The C and C++ runtimes must be the GPU machine's own: unpacking another libc or libstdc++ into a
# library path breaks every program that loads it.
skip='^(libc6|libc6-dev|libgcc-s1|libstdc\+\+6|gcc-12-base|libcrypt1|libcrypt-dev|linux-libc-dev|libtorch.*|libcuda.*|libnvidia.*|nvidia.*|python3.*)$'
mapfile -t pkgs < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
                      --no-replaces --no-enhances "${roots[@]}" | grep -E '^[a-z0-9]' | sort -u | grep -Ev "$skip")
echo "gpu-debs: downloading ${#pkgs[@]} packages into $out"
(cd "$out" && apt-get download "${pkgs[@]}" >/dev/null)
ls "$out"/*.deb | wc -l
