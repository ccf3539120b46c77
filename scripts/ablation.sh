#!/usr/bin/env bash
# The DLCM paper's ablations on the embedded corpus (sweeps/ablation.toml; docs/results.md
# "Ablations"): plan, train and report them into their own database, runs/ablation/ablation.db,
# never the main job's dlcm.db. 21 runs, ~5 minutes on 2 cores after the build. Re-running skips
# what is done. Needs a build (scripts/build.sh) and writes the corpus if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
dlcm=./build/src/cli/dlcm
[ -x $dlcm ] || bash scripts/build.sh
db=runs/ablation/ablation.db
mkdir -p runs/ablation
SECONDS=0
[ -f data/corpus/meta.json ] || $dlcm data prepare --out data/corpus
$dlcm sweep plan sweeps/ablation.toml --db $db
$dlcm sweep run sweeps/ablation.toml --db $db
$dlcm sweep status ablation --db $db
$dlcm export ablation --db $db --format csv -o runs/ablation/runs.csv
$dlcm report ablation --db $db --json > runs/ablation/analyses.json
$dlcm report ablation --db $db --zero-offsets -o runs/ablation/report.html
echo "ablation: runs in $db; run table runs/ablation/runs.csv; analyses runs/ablation/analyses.json; report runs/ablation/report.html (${SECONDS}s)"
