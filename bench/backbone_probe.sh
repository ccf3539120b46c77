#!/usr/bin/env bash
# Does the concept backbone buy loss on the demo's proxies? Trains a DLCM at d_token 16 (1 encoder +
# 1 decoder layer, R 4) with backbones from d_concept 8 to 128 (and one 4-layer backbone), and the
# 2-layer baseline at d 16 and 24, all for the SAME tokens (1500 steps × 16 × 128), at the demo's
# μP base rate: the backbone's capacity measured apart from its compute. Two runs at a time, one
# thread each; ~3 minutes on 2 cores. Prints the validation loss (128 windows) of each.
#   bench/backbone_probe.sh            # needs build/ and data/corpus (bash scripts/main.sh makes both)
# Env: OUT (run directories; default a temp dir), STEPS (1500), LR (0.011: the demo pilot's rate).
set -euo pipefail
cd "$(dirname "$0")/.."
dlcm=./build/src/cli/dlcm
OUT=${OUT:-$(mktemp -d /tmp/dlcm-backbone-probe.XXXXXX)}
mkdir -p "$OUT"
STEPS=${STEPS:-1500}
LR=${LR:-0.011}
train() {  # name arch d_token d_concept concept_layers
  $dlcm train --config bench/configs/backbone-probe.toml --run-dir "$OUT/$1" --threads 1 --quiet \
    --set model.arch=\"$2\" --set model.d_token=$3 --set model.d_concept=$4 --set model.concept_layers=$5 \
    --set train.steps=$STEPS --set train.warmup_steps=$((STEPS / 20)) --set train.eval_every=$STEPS \
    --set train.checkpoint_every=$STEPS --set train.lr=$LR > "$OUT/$1.log" 2>&1
}
train dlcm-d16-c8 dlcm 16 8 2 & train dlcm-d16-c32 dlcm 16 32 2; wait
train dlcm-d16-c128 dlcm 16 128 2 & train baseline-d16 baseline 16 0 2; wait
train dlcm-d16-c64x4 dlcm 16 64 4 & train baseline-d24 baseline 24 0 2; wait
printf "%-16s %10s %10s %12s %9s\n" run N backbone FLOPs/tok val_loss
for r in dlcm-d16-c8 dlcm-d16-c32 dlcm-d16-c128 dlcm-d16-c64x4 baseline-d16 baseline-d24; do
  python3 - "$OUT/$r/result.json" "$r" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:<16} {r['n_params_non_embedding']:>10.0f} {r['n_params_concept']:>10.0f} "
      f"{r['flops_per_token']:>12.0f} {r['final_val_loss']:>9.4f}")
PY
done
echo "run directories: $OUT"
