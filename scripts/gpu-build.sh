#!/usr/bin/env bash
# On a GPU machine with a CUDA PyTorch but no package access: unpacks the .deb files made by
# scripts/gpu-debs.sh into a private prefix (nothing is installed system-wide) and builds dlcm
# against PyTorch's LibTorch. Writes build-cuda/env.sh, to source before running build-cuda/src/cli/dlcm.
#   bash scripts/gpu-build.sh DEBS_DIR [PYTHON]   (PYTHON: the python3 that has torch; default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
debs=$(realpath "${1:?usage: gpu-build.sh DEBS_DIR [PYTHON]}")
python=${2:-python3}
prefix=$PWD/build-cuda/prefix
mkdir -p "$prefix"
for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$prefix"; done
arch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
torch_lib=$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
cat > build-cuda/env.sh <<ENV
export PATH="$prefix/usr/bin:\$PATH"
export LD_LIBRARY_PATH="$prefix/usr/lib/$arch:$prefix/lib/$arch:$torch_lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export PKG_CONFIG_PATH="$prefix/usr/lib/$arch/pkgconfig:$prefix/usr/share/pkgconfig"
ENV
# shellcheck disable=SC1091
source build-cuda/env.sh
cmake_bin=$(command -v cmake)
"$cmake_bin" -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DDLCM_TORCH_FROM_PYTHON=ON \
  -DDLCM_PYTHON="$python" -DCMAKE_PREFIX_PATH="$prefix/usr;$prefix/usr/lib/$arch/cmake"
"$cmake_bin" --build build-cuda -j "$(nproc)"
echo "gpu-build: built build-cuda/src/cli/dlcm; run it after: source build-cuda/env.sh"
