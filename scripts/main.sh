#!/usr/bin/env bash
# The main job on the embedded default: install, build, prepare the bundled corpus, train the
# tiny DLCM proxy. Re-running skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
dlcm=./build/src/cli/dlcm
[ -f data/corpus/meta.json ] || $dlcm data prepare --out data/corpus
$dlcm train --config configs/tiny-dlcm.toml --run-dir runs/tiny-dlcm
$dlcm inspect --run-dir runs/tiny-dlcm --text "The Debian package manager resolves dependencies."
echo "main: run directory runs/tiny-dlcm (result.json, metrics.sqlite, log.txt, checkpoint.pt)"
