#!/usr/bin/env bash
# Installs every Debian package dlcm needs. Safe to run twice: apt skips what is present.
set -euo pipefail

packages=(
  # toolchain
  cmake ninja-build g++ lld ccache pkg-config git
  # libraries
  libtorch-dev libgloo-dev libceres-dev libeigen3-dev libsqlite3-dev sqlite3 libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev libtomlplusplus-dev nlohmann-json3-dev zlib1g-dev
  # the fast BLAS for LibTorch's matmuls: OpenBLAS, OpenMP build (the pthread build fights
  # LibTorch's own OpenMP threads)
  libopenblas0-openmp libopenblas-openmp-dev
  # corpus sources (DESIGN §7) and the Python side of the benchmarks
  debian-reference-en debian-reference-zh-cn fortunes fortunes-min fortunes-zh
  python3 python3-torch python3-numpy python3-scipy
  # the single-node Slurm of scripts/slurm-up.sh (the Slurm launcher's integration tests)
  slurm-wlm munge
  # the report: figures (gnuplot's svg terminal), its fonts (CJK for the Chinese segmentation
  # examples), and the headless browser and PNG decoder of its rendering test
  gnuplot-nox fonts-dejavu-core fonts-wqy-microhei chromium libpng-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Make sure LibTorch resolves libblas.so.3 to OpenBLAS (OpenMP), whatever else is installed.
arch_dir=/usr/lib/$(gcc -print-multiarch)
want="$arch_dir/openblas-openmp/libblas.so.3"
if [ "$(readlink -f "$arch_dir/libblas.so.3")" != "$(readlink -f "$want")" ]; then
  $SUDO update-alternatives --set "libblas.so.3-$(gcc -print-multiarch)" "$want"
  $SUDO update-alternatives --set "liblapack.so.3-$(gcc -print-multiarch)" "$arch_dir/openblas-openmp/liblapack.so.3" || true
fi
echo "setup: packages present; libblas.so.3 -> $(readlink -f "$arch_dir/libblas.so.3")"
