#!/usr/bin/env bash
# The main job on the embedded default: install, build, prepare the bundled corpus, run the demo
# sweep (sweeps/demo.toml) into ./dlcm.db, export its table, fit it, recommend architectures for
# larger budgets, run the μP coordinate checks and write the HTML report. Re-running skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
dlcm=./build/src/cli/dlcm
[ -f data/corpus/meta.json ] || $dlcm data prepare --out data/corpus
$dlcm sweep run sweeps/demo.toml --db dlcm.db
$dlcm sweep status demo --db dlcm.db
$dlcm export demo --db dlcm.db --format csv -o runs/demo/runs.csv
# isoFLOP parabolas need the grid to bracket each budget's minimum; when fewer than two budgets do,
# the fit refuses and says which and why: a finding of the study, so the main job goes on.
$dlcm fit --sweep demo --db dlcm.db --law isoflop --runs baseline || echo "main: no baseline isoFLOP fit (why: above)"
$dlcm fit --sweep demo --db dlcm.db --law chinchilla --runs baseline --bootstrap 100 --holdout largest
$dlcm fit --sweep demo --db dlcm.db --law dlcm --bootstrap 20 --holdout largest
$dlcm recommend --sweep demo --db dlcm.db --budget 1e13
$dlcm recommend --sweep demo --db dlcm.db --budget 1e14
# μP coordinate checks (seconds each) for the report's μP section
for p in mup standard; do
  $dlcm mup coord-check --config configs/coord-check.toml --widths-token 64 128 256 --widths-concept 128 256 512 \
    --parametrisation $p --db dlcm.db --name "demo-$p"
done
$dlcm report demo --db dlcm.db -o runs/demo/report.html
echo "main: demo sweep, its fits and recommendations in dlcm.db; run table runs/demo/runs.csv; report runs/demo/report.html"
