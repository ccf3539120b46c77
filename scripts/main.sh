#!/usr/bin/env bash
# The main job on the embedded default: install, build, prepare the bundled corpus, run the demo
# sweep (sweeps/demo.toml) into ./dlcm.db, and export its table. Re-running skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
dlcm=./build/src/cli/dlcm
[ -f data/corpus/meta.json ] || $dlcm data prepare --out data/corpus
$dlcm sweep run sweeps/demo.toml --db dlcm.db
$dlcm sweep status demo --db dlcm.db
$dlcm export demo --db dlcm.db --format csv -o runs/demo/runs.csv
echo "main: demo sweep in dlcm.db; run table runs/demo/runs.csv"
